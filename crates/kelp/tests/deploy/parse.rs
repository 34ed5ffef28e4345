//! Manifests read strictly: YAML documents, the round trip into `k8s-openapi` types.

use std::path::Path;

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::read;

/// One YAML document of a manifest file, as a JSON value.
#[derive(Debug, Clone)]
pub struct Doc {
    pub origin: String,
    pub value: Value,
}

impl Doc {
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or("")
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or("")
    }
}

/// The documents of a multi-document YAML file (empty documents skipped).
pub fn docs_of(path: &Path) -> Vec<Doc> {
    docs_of_text(&read(path), &path.display().to_string())
}

/// The documents of multi-document YAML text from `origin` (empty documents skipped).
pub fn docs_of_text(text: &str, origin: &str) -> Vec<Doc> {
    let mut out = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).unwrap_or_else(|e| panic!("{origin} document {i}: {e}"));
        if !value.is_null() {
            out.push(Doc {
                origin: format!("{origin} document {i}"),
                value,
            });
        }
    }
    out
}

/// Paths present in `orig` that the round trip lost or changed.
pub fn dropped(orig: &Value, round: &Value, path: &str, out: &mut Vec<String>) {
    match (orig, round) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => dropped(v, w, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                dropped(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if orig == round => {}
        _ => out.push(format!("{path} ({orig} became {round})")),
    }
}

/// Parses `value` into `T` as strictly as `deny_unknown_fields` would: the typed object,
/// written back, must hold every field of the input with the same value.
pub fn strict<T: DeserializeOwned + Serialize>(value: &Value) -> Result<T, String> {
    let typed: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    let round = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut lost = Vec::new();
    dropped(value, &round, "", &mut lost);
    if lost.is_empty() {
        Ok(typed)
    } else {
        Err(format!("fields unknown to the type: {}", lost.join(", ")))
    }
}

/// Every object of a set of manifests, typed.
#[derive(Default)]
pub struct Objects {
    pub namespaces: Vec<Namespace>,
    pub service_accounts: Vec<ServiceAccount>,
    pub config_maps: Vec<ConfigMap>,
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub roles: Vec<Role>,
    pub role_bindings: Vec<RoleBinding>,
    pub services: Vec<Service>,
    pub daemon_sets: Vec<DaemonSet>,
    pub stateful_sets: Vec<StatefulSet>,
    pub api_services: Vec<APIService>,
}

impl Objects {
    pub fn load(docs: &[Doc]) -> Objects {
        fn typed<T: DeserializeOwned + Serialize>(d: &Doc) -> T {
            strict(&d.value)
                .unwrap_or_else(|e| panic!("{} ({} {}): {e}", d.origin, d.kind(), d.name()))
        }
        let mut o = Objects::default();
        for d in docs {
            match (d.value["apiVersion"].as_str().unwrap_or(""), d.kind()) {
                ("v1", "Namespace") => o.namespaces.push(typed(d)),
                ("v1", "ServiceAccount") => o.service_accounts.push(typed(d)),
                ("v1", "ConfigMap") => o.config_maps.push(typed(d)),
                ("v1", "Service") => o.services.push(typed(d)),
                ("rbac.authorization.k8s.io/v1", "ClusterRole") => o.cluster_roles.push(typed(d)),
                ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                    o.cluster_role_bindings.push(typed(d))
                }
                ("rbac.authorization.k8s.io/v1", "Role") => o.roles.push(typed(d)),
                ("rbac.authorization.k8s.io/v1", "RoleBinding") => o.role_bindings.push(typed(d)),
                ("apps/v1", "DaemonSet") => o.daemon_sets.push(typed(d)),
                ("apps/v1", "StatefulSet") => o.stateful_sets.push(typed(d)),
                ("apiregistration.k8s.io/v1", "APIService") => o.api_services.push(typed(d)),
                (api, kind) => panic!("{}: unexpected object {api} {kind}", d.origin),
            }
        }
        o
    }

    pub fn config_map(&self, name: &str) -> &ConfigMap {
        self.config_maps
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no ConfigMap {name}"))
    }
}
