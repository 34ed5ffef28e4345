//! `deploy/kubernetes/`: the plain manifests and their kustomization.

use std::collections::BTreeSet;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::Value;

use super::checks::{check_all, check_api_service};
use super::parse::{docs_of, strict, Doc, Objects};
use super::root;

pub fn kubernetes_dir() -> PathBuf {
    root().join("deploy/kubernetes")
}

pub fn plain_docs(with_apiservice: bool) -> Vec<Doc> {
    let dir = kubernetes_dir();
    let kustomization = docs_of(&dir.join("kustomization.yaml"));
    let mut files: Vec<String> = kustomization[0].value["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    if with_apiservice {
        files.push("metrics-apiservice.yaml".into());
    }
    files.iter().flat_map(|f| docs_of(&dir.join(f))).collect()
}

#[test]
fn plain_manifests_parse_strictly_and_have_the_settings() {
    let o = Objects::load(&plain_docs(true));
    assert_eq!(o.namespaces.len(), 1);
    check_all(&o);
    let service = o
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("kelp-server"))
        .unwrap();
    check_api_service(&o, service);
}

#[test]
fn kustomization_lists_every_manifest_but_the_metrics_apiservice() {
    let dir = kubernetes_dir();
    let listed: BTreeSet<String> = docs_of(&dir.join("kustomization.yaml"))[0].value["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let mut present = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".yaml") && name != "kustomization.yaml" {
            present.insert(name);
        }
    }
    let mut expected = present.clone();
    assert!(expected.remove("metrics-apiservice.yaml"));
    assert_eq!(listed, expected);
}

#[test]
fn an_unknown_field_fails_the_strict_parse() {
    let docs = plain_docs(false);
    let ds = docs.iter().find(|d| d.kind() == "DaemonSet").unwrap();
    let mut bad = ds.value.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]["readonly"] =
        Value::Bool(true);
    let err = strict::<DaemonSet>(&bad).map(|_| ()).unwrap_err();
    assert!(err.contains("volumeMounts[1].readonly"), "{err}");
    let mut typo = ds.value.clone();
    typo["spec"]["template"]["spec"]["toleration"] = serde_json::json!([]);
    assert!(strict::<DaemonSet>(&typo).is_err());
    // A value of the wrong type fails too.
    let mut wrong = ds.value.clone();
    wrong["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] =
        serde_json::json!(1);
    assert!(strict::<DaemonSet>(&wrong).is_err());
}
