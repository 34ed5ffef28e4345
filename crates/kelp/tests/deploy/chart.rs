//! `deploy/helm/kelp/`: values against templates; the chart rendered at test time
//! (`render.rs`) with its default values and with each example values file, against the
//! values and the plain manifests; the committed renderings against fresh ones.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

use super::checks::check_all;
use super::manifests::plain_docs;
use super::parse::{docs_of_text, dropped, Doc, Objects};
use super::render::render;
use super::{read, root};

pub fn chart_dir() -> PathBuf {
    root().join("deploy/helm/kelp")
}

/// Labels Helm adds (chart, release) that the plain manifests do not carry.
pub const HELM_LABELS: [&str; 4] = [
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/version",
    "app.kubernetes.io/instance",
];

/// An object without Helm's labels, config files parsed (so their formatting and key
/// order do not count), keyed by kind and name.
pub fn normalized(docs: &[Doc]) -> BTreeMap<(String, String), Value> {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for l in HELM_LABELS {
                    m.remove(l);
                }
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    docs.iter()
        .filter(|d| d.kind() != "Namespace")
        .map(|d| {
            let mut v = d.value.clone();
            strip(&mut v);
            if let Some(Value::Object(data)) = v.get_mut("data") {
                for text in data.values_mut() {
                    let parsed: Value = serde_yaml_ng::from_str(text.as_str().unwrap()).unwrap();
                    *text = parsed;
                }
            }
            ((d.kind().to_owned(), d.name().to_owned()), v)
        })
        .collect()
}

/// Example values files render as this release in this namespace.
pub const EXAMPLE_RELEASE: (&str, &str) = ("logs", "observability");

/// The chart rendered with its default values, as `helm template kelp --namespace kelp`.
pub fn rendered_default_text() -> String {
    render("kelp", "kelp", &[]).unwrap_or_else(|e| panic!("rendering the chart: {e}"))
}

pub fn rendered_default() -> Vec<Doc> {
    docs_of_text(&rendered_default_text(), "helm template kelp")
}

/// `examples/<name>.yaml` values files (not the renderings), by name.
pub fn examples() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(chart_dir().join("examples")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.extension().is_some_and(|x| x == "yaml") && !name.starts_with("rendered-") {
            out.push((name, path));
        }
    }
    out.sort();
    assert!(!out.is_empty(), "the chart has example values");
    out
}

pub fn rendered_example_text(values: &std::path::Path) -> String {
    let (release, namespace) = EXAMPLE_RELEASE;
    render(release, namespace, &[values])
        .unwrap_or_else(|e| panic!("rendering with {}: {e}", values.display()))
}

/// A committed rendering without its header (the comment lines before the first `---`,
/// saying how it is made).
fn without_header(text: &str) -> &str {
    let mut rest = text;
    while rest.starts_with('#') {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest
}

/// The committed renderings (for readers and docs) are what the chart renders today.
#[test]
fn committed_renderings_are_the_chart_rendered_now() {
    let dir = chart_dir();
    let mut pairs = vec![(dir.join("rendered-default.yaml"), rendered_default_text())];
    for (name, values) in examples() {
        pairs.push((
            dir.join(format!("examples/rendered-{name}.yaml")),
            rendered_example_text(&values),
        ));
    }
    for (path, fresh) in pairs {
        let committed = read(&path);
        assert!(
            committed.starts_with("# "),
            "{} starts with a header saying how it is made",
            path.display()
        );
        assert!(
            without_header(&committed) == fresh,
            "{} is not the chart rendered now: run deploy/helm/regenerate",
            path.display()
        );
    }
}

/// Every example values file renders into manifests that parse strictly and have the
/// settings, and the journal and control-plane switches of the agent hold both ways.
#[test]
fn chart_example_renderings_parse_strictly_and_have_the_settings() {
    for (name, values) in examples() {
        let docs = docs_of_text(&rendered_example_text(&values), &name);
        let o = Objects::load(&docs);
        check_all(&o);
    }
}

#[test]
fn chart_default_rendering_parses_strictly_and_has_the_settings() {
    let docs = rendered_default();
    let o = Objects::load(&docs);
    assert!(
        o.namespaces.is_empty(),
        "helm install --create-namespace makes it"
    );
    assert!(
        o.api_services.is_empty(),
        "metricsApi.enabled is off by default"
    );
    check_all(&o);
}

#[test]
fn chart_default_rendering_is_the_plain_manifests() {
    let chart = normalized(&rendered_default());
    let plain = normalized(&plain_docs(false));
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    for (key, value) in &plain {
        let mut diff = Vec::new();
        dropped(value, &chart[key], "", &mut diff);
        dropped(&chart[key], value, "", &mut diff);
        assert!(diff.is_empty(), "{key:?} differs: {diff:?}");
    }
}

/// `a.b.c` for every key of a YAML mapping, leaves and sections alike.
pub fn key_paths(v: &serde_yaml_ng::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let serde_yaml_ng::Value::Mapping(m) = v {
        for (k, v) in m {
            let path = format!("{prefix}{}", k.as_str().unwrap());
            out.insert(path.clone());
            key_paths(v, &format!("{path}."), out);
        }
    }
}

pub fn templates() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        let path = e.unwrap().path();
        out.push((path.display().to_string(), read(&path)));
    }
    out
}

/// `.Values.x.y` references in the templates.
pub fn value_references() -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    for (_, text) in templates() {
        for (at, _) in text.match_indices(".Values.") {
            let rest = &text[at + ".Values.".len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_'))
                .unwrap_or(rest.len());
            refs.insert(rest[..end].trim_end_matches('.').to_owned());
        }
    }
    refs
}

#[test]
fn chart_values_and_templates_agree() {
    let values: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(&chart_dir().join("values.yaml"))).unwrap();
    let mut keys = BTreeSet::new();
    key_paths(&values, "", &mut keys);
    let refs = value_references();
    // Every reference names a value, except keys inside a config passed whole (an
    // optional config key, such as agent.config.server, tested for presence).
    for r in &refs {
        let inside_config = r.starts_with("agent.config.") || r.starts_with("server.config.");
        assert!(
            keys.contains(r) || inside_config,
            "templates use .Values.{r}, which values.yaml does not have"
        );
    }
    // Every value is used: by name, as part of a section used whole, or as a section
    // whose keys are used.
    for k in &keys {
        let used = refs
            .iter()
            .any(|r| k == r || k.starts_with(&format!("{r}.")) || r.starts_with(&format!("{k}.")));
        assert!(used, "values.yaml has {k}, which no template uses");
    }
    // The chart's version is Kelp's.
    let chart: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(&chart_dir().join("Chart.yaml"))).unwrap();
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(chart["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
}

#[test]
fn chart_default_rendering_holds_the_default_values() {
    let values: Value = serde_yaml_ng::from_str(&read(&chart_dir().join("values.yaml"))).unwrap();
    let docs = rendered_default();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d.kind() == kind && d.name() == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .value
            .clone()
    };
    let config = |name: &str, key: &str| -> Value {
        let cm = find("ConfigMap", name);
        serde_yaml_ng::from_str(cm["data"][key].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        config("kelp-server", "server.yaml"),
        values["server"]["config"]
    );
    assert_eq!(
        config("kelp-agent", "agent.yaml"),
        values["agent"]["config"]
    );
    let ds = find("DaemonSet", "kelp-agent");
    let pod = &ds["spec"]["template"]["spec"];
    assert_eq!(pod["tolerations"], values["agent"]["tolerations"]);
    assert_eq!(
        pod["containers"][0]["resources"],
        values["agent"]["resources"]
    );
    let image = format!(
        "{}:{}",
        values["image"]["repository"].as_str().unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(pod["containers"][0]["image"], Value::String(image.clone()));
    let sts = find("StatefulSet", "kelp-server");
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["resources"],
        values["server"]["resources"]
    );
    assert_eq!(pod["containers"][0]["image"], Value::String(image));
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
        values["server"]["storage"]["size"]
    );
}

/// The actions of a template: the text between `{{` and `}}`, trimmed of `-` markers.
fn actions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}").expect("an action is closed") + start;
        let inner = rest[start + 2..end].trim_matches('-').trim();
        out.push(inner.to_owned());
        rest = &rest[end + 2..];
    }
    out
}

/// Not a template engine: the templates' blocks nest (every `if`, `with`, `range`,
/// `define` has its `end`, `else` only inside one) and every `include` names a helper
/// `_helpers.tpl` defines, which `helm lint` would otherwise be the first to say.
#[test]
fn chart_templates_are_well_formed() {
    let mut defined = BTreeSet::new();
    let mut included = BTreeSet::new();
    for (path, text) in templates() {
        let mut depth = 0i32;
        for a in actions(&text) {
            let word = a.split_whitespace().next().unwrap_or("");
            match word {
                "if" | "with" | "range" | "define" => depth += 1,
                "end" => depth -= 1,
                "else" => assert!(depth > 0, "{path}: else outside a block"),
                _ => {}
            }
            assert!(depth >= 0, "{path}: end without a block");
            let quoted = |after: &str| a.split(after).nth(1).and_then(|r| r.split('"').nth(1));
            if word == "define" {
                defined.extend(quoted("define").map(str::to_owned));
            }
            if a.contains("include ") {
                included.extend(quoted("include ").map(str::to_owned));
            }
        }
        assert_eq!(depth, 0, "{path}: a block is not closed");
    }
    assert!(!included.is_empty());
    for name in &included {
        assert!(defined.contains(name), "include {name:?} is not defined");
    }
}

/// Helm's merge of `-f` values over the chart's: maps key by key, anything else replaced.
fn coalesce(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => coalesce(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[test]
fn chart_full_example_rendering_parses_strictly_and_holds_its_values() {
    let dir = chart_dir();
    let mut values: Value = serde_yaml_ng::from_str(&read(&dir.join("values.yaml"))).unwrap();
    let example: Value = serde_yaml_ng::from_str(&read(&dir.join("examples/full.yaml"))).unwrap();
    coalesce(&mut values, &example);
    let docs = docs_of_text(
        &rendered_example_text(&dir.join("examples/full.yaml")),
        "examples/full.yaml",
    );
    let o = Objects::load(&docs);
    check_all(&o);
    let service = o
        .services
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some("logs-kelp-server"))
        .expect("the release's Service");
    super::checks::check_api_service(&o, service);

    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d.kind() == kind && d.name() == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .value
            .clone()
    };
    let config = |name: &str, key: &str| -> Value {
        let cm = find("ConfigMap", name);
        serde_yaml_ng::from_str(cm["data"][key].as_str().unwrap()).unwrap()
    };
    assert_eq!(
        config("logs-kelp-server", "server.yaml"),
        values["server"]["config"]
    );
    assert_eq!(
        config("logs-kelp-agent", "agent.yaml"),
        values["agent"]["config"]
    );
    let image = format!(
        "{}:{}",
        values["image"]["repository"].as_str().unwrap(),
        values["image"]["tag"].as_str().unwrap()
    );

    let ds = find("DaemonSet", "logs-kelp-agent");
    let pod = &ds["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(c["image"], Value::String(image.clone()));
    assert_eq!(c["imagePullPolicy"], values["image"]["pullPolicy"]);
    assert_eq!(pod["imagePullSecrets"], values["imagePullSecrets"]);
    assert_eq!(
        pod["priorityClassName"],
        values["agent"]["priorityClassName"]
    );
    // agent.config.server is given: no KELP_AGENT_SERVER overrides it.
    let env = c["env"].as_array().unwrap();
    assert!(env.iter().all(|e| e["name"] != "KELP_AGENT_SERVER"));
    let secret_mounted = |pod: &Value, secret: &Value, path: &str| {
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| &v["secret"]["secretName"] == secret)
            .unwrap_or_else(|| panic!("no volume of secret {secret}"));
        let mount = pod["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume["name"])
            .expect("the secret is mounted");
        assert_eq!(mount["mountPath"], path);
        assert_eq!(mount["readOnly"], true);
    };
    let tokens = &values["auth"]["tokensSecret"];
    secret_mounted(pod, tokens, "/etc/kelp/auth");

    let sts = find("StatefulSet", "logs-kelp-server");
    let pod = &sts["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], Value::String(image));
    assert_eq!(
        pod["containers"][0]["resources"],
        values["server"]["resources"]
    );
    assert_eq!(pod["nodeSelector"], values["server"]["nodeSelector"]);
    assert_eq!(pod["tolerations"], values["server"]["tolerations"]);
    assert_eq!(pod["imagePullSecrets"], values["imagePullSecrets"]);
    secret_mounted(pod, tokens, "/etc/kelp/auth");
    secret_mounted(pod, &values["metricsApi"]["tlsSecret"], "/etc/kelp/tls");
    let claim = &sts["spec"]["volumeClaimTemplates"][0]["spec"];
    assert_eq!(
        claim["storageClassName"],
        values["server"]["storage"]["storageClassName"]
    );
    assert_eq!(
        claim["resources"]["requests"]["storage"],
        values["server"]["storage"]["size"]
    );

    let api = find("APIService", "v1beta1.metrics.k8s.io");
    assert_eq!(api["spec"]["caBundle"], values["metricsApi"]["caBundle"]);
    assert!(api["spec"].get("insecureSkipTLSVerify").is_none());
}

/// Issue 10: `agent.config.control_plane` turns the control plane's log files on and off,
/// and lists them; the DaemonSet mounts the directory of each pattern, once, read-only
/// from the node at the same path, and nothing when off.
#[test]
fn chart_control_plane_files_switch_their_read_only_mounts() {
    let mounts = |text: &str| -> BTreeMap<String, (String, bool)> {
        let docs = docs_of_text(text, "rendering");
        let ds = &docs.iter().find(|d| d.kind() == "DaemonSet").unwrap().value;
        let pod = &ds["spec"]["template"]["spec"];
        let mut out = BTreeMap::new();
        for v in pod["volumes"].as_array().unwrap() {
            let name = v["name"].as_str().unwrap();
            if !name.starts_with("control-plane-") {
                continue;
            }
            assert_eq!(v["hostPath"]["type"], "Directory", "{v}");
            let m = pod["containers"][0]["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == name)
                .unwrap_or_else(|| panic!("volume {name} is mounted"));
            out.insert(
                v["hostPath"]["path"].as_str().unwrap().to_owned(),
                (
                    m["mountPath"].as_str().unwrap().to_owned(),
                    m["readOnly"] == true,
                ),
            );
        }
        out
    };
    let at = |dirs: &[&str]| -> BTreeMap<String, (String, bool)> {
        dirs.iter()
            .map(|d| (d.to_string(), (d.to_string(), true)))
            .collect()
    };
    assert_eq!(mounts(&rendered_default_text()), at(&["/var/log"]));
    let dir = chart_dir().join("examples");
    assert_eq!(
        mounts(&rendered_example_text(&dir.join("full.yaml"))),
        at(&["/var/log", "/var/log/kubernetes"])
    );
    assert_eq!(
        mounts(&rendered_example_text(&dir.join("static-pods.yaml"))),
        at(&[])
    );
    // Two patterns in one directory mount it once.
    let tmp = tempfile::tempdir().unwrap();
    let values = tmp.path().join("v.yaml");
    std::fs::write(
        &values,
        "agent:\n  config:\n    control_plane:\n      files: [/srv/cp/kube-*.log, /srv/cp/etcd.log]\n",
    )
    .unwrap();
    let text = render("kelp", "kelp", &[&values]).unwrap();
    assert_eq!(mounts(&text), at(&["/srv/cp"]));
    check_all(&Objects::load(&docs_of_text(&text, "v.yaml")));
}
