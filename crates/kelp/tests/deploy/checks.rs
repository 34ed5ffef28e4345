//! The settings issue 10 asks of a set of manifests, checked on the typed objects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::parse::Objects;

pub fn pod_spec_of(template: &PodTemplateSpec) -> &PodSpec {
    template.spec.as_ref().expect("pod template has a spec")
}

pub fn only_container(spec: &PodSpec) -> &Container {
    assert_eq!(spec.containers.len(), 1, "one container per pod");
    &spec.containers[0]
}

/// The ConfigMap a container's `--config` file comes from, and the file's text.
pub fn config_text<'a>(objects: &'a Objects, spec: &PodSpec, c: &Container) -> &'a str {
    let args = c.args.as_deref().unwrap_or_default();
    let at = args.iter().position(|a| a == "--config").expect("--config");
    let file = Path::new(&args[at + 1]);
    let dir = file.parent().unwrap().to_str().unwrap();
    let key = file.file_name().unwrap().to_str().unwrap();
    let mount = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.mount_path == dir)
        .unwrap_or_else(|| panic!("{dir} is not mounted"));
    assert_eq!(
        mount.read_only,
        Some(true),
        "the config is mounted read-only"
    );
    let volume = spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == mount.name)
        .expect("the config mount has a volume");
    let cm = volume
        .config_map
        .as_ref()
        .expect("the config is a ConfigMap");
    objects
        .config_map(&cm.name)
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .unwrap_or_else(|| panic!("ConfigMap {} has no {key}", cm.name))
}

/// The literal environment a container gets (`valueFrom` entries are left out).
pub fn literal_env(c: &Container) -> Vec<(String, String)> {
    c.env
        .iter()
        .flatten()
        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
        .collect()
}

pub fn http_probe(c: &Container, probe: &str) -> (String, IntOrString) {
    let p = match probe {
        "readiness" => c.readiness_probe.as_ref(),
        _ => c.liveness_probe.as_ref(),
    }
    .unwrap_or_else(|| panic!("{}: no {probe} probe", c.name));
    let get = p.http_get.as_ref().expect("an HTTP probe");
    (get.path.clone().unwrap_or_default(), get.port.clone())
}

pub fn container_port(c: &Container, port: &IntOrString) -> i32 {
    match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("{}: no port named {name}", c.name))
                .container_port
        }
    }
}

pub fn port_of(addr: &str) -> i32 {
    addr.rsplit(':').next().unwrap().parse().expect("a port")
}

pub fn check_resources(c: &Container) {
    let r = c.resources.as_ref().expect("resources");
    for (what, map) in [("requests", &r.requests), ("limits", &r.limits)] {
        let map = map
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no {what}", c.name));
        for res in ["cpu", "memory"] {
            assert!(map.contains_key(res), "{}: no {what}.{res}", c.name);
        }
    }
}

pub fn check_container_security(c: &Container) {
    let sc = c
        .security_context
        .as_ref()
        .expect("container securityContext");
    assert_eq!(sc.allow_privilege_escalation, Some(false), "{}", c.name);
    assert_eq!(sc.read_only_root_filesystem, Some(true), "{}", c.name);
    assert_ne!(sc.privileged, Some(true), "{}", c.name);
    let caps = sc.capabilities.as_ref().expect("capabilities");
    assert_eq!(
        caps.drop.as_deref(),
        Some(&["ALL".to_owned()][..]),
        "{}",
        c.name
    );
    assert!(
        caps.add.as_deref().unwrap_or_default().is_empty(),
        "{}",
        c.name
    );
}

/// The agent's DaemonSet: every node, host logs read-only, state on the host, probes on
/// the agent's real port, and its ConfigMap accepted by the agent's own config loader.
pub fn check_agent(o: &Objects) -> String {
    assert_eq!(o.daemon_sets.len(), 1);
    let ds = &o.daemon_sets[0];
    let spec = pod_spec_of(&ds.spec.as_ref().unwrap().template);
    let c = only_container(spec);
    assert_eq!(c.args.as_deref().unwrap()[0], "agent");

    // Every node: a toleration without key and operator Exists tolerates every taint.
    assert!(
        spec.tolerations
            .iter()
            .flatten()
            .any(|t| t.operator.as_deref() == Some("Exists")
                && t.key.is_none()
                && t.effect.is_none()),
        "the agent tolerates every taint"
    );
    assert!(spec.node_selector.is_none(), "no nodeSelector: every node");

    // NODE_NAME from the pod's node.
    let node = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "NODE_NAME")
        .expect("NODE_NAME");
    let field = node.value_from.as_ref().and_then(|f| f.field_ref.as_ref());
    assert_eq!(field.map(|f| f.field_path.as_str()), Some("spec.nodeName"));

    // The config, read as the pod reads it: file plus the container's environment.
    let text = config_text(o, spec, c);
    let file = kelp_agent::config::AgentFileConfig::from_yaml(text, literal_env(c))
        .unwrap_or_else(|e| panic!("agent.yaml: {e}"));
    let listen = file.listen.clone();
    let server = file.server.clone();
    let (cgroup_root, proc_root) = (
        file.resources.cgroup_root.clone(),
        file.resources.proc_root.clone(),
    );
    let config = file
        .into_agent_config("node-a".into())
        .unwrap_or_else(|e| panic!("agent.yaml: {e}"));
    let kube = config
        .kubernetes
        .as_ref()
        .expect("the agent watches its node's pods");
    assert!(!kube.pod_labels.is_empty(), "pod labels to keep");
    assert!(kube.terminations, "termination records on");
    let lease = kube.events.as_ref().expect("the events election is on");
    assert_eq!(lease.name, "kelp-events", "the Lease the Role names");
    // Its identity: the pod's name, unique even when a rolling update overlaps two
    // agents on one node.
    let identity = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "KELP_AGENT_KUBERNETES__EVENTS__IDENTITY")
        .expect("the Lease identity from the environment");
    let field = identity
        .value_from
        .as_ref()
        .and_then(|f| f.field_ref.as_ref());
    assert_eq!(field.map(|f| f.field_path.as_str()), Some("metadata.name"));
    assert_ne!(
        spec.automount_service_account_token,
        Some(false),
        "the pod watch uses the service account's token"
    );

    // Host paths: the logs read-only at the paths the config reads, the state dir
    // writable at the config's state_dir.
    let volumes: BTreeMap<&str, &str> = spec
        .volumes
        .iter()
        .flatten()
        .filter_map(|v| Some((v.name.as_str(), v.host_path.as_ref()?.path.as_str())))
        .collect();
    let mut mounted = BTreeMap::new();
    for m in c.volume_mounts.iter().flatten() {
        if let Some(host) = volumes.get(m.name.as_str()) {
            let writable = m.read_only != Some(true);
            mounted.insert(*host, (m.mount_path.as_str(), writable));
        }
    }
    for log_dir in ["/var/log/pods", "/var/log/containers"] {
        assert_eq!(
            mounted.get(log_dir),
            Some(&(log_dir, false)),
            "{log_dir} mounted read-only at its own path"
        );
    }
    assert_eq!(Path::new(mounted["/var/log/pods"].0), config.pods_dir);
    let mut expected_hosts: BTreeSet<&str> = [
        "/var/log/pods",
        "/var/log/containers",
        "/sys/fs/cgroup",
        "/proc",
    ]
    .into();
    // The journal, when read, is read where it is mounted (kubelet and runtime units by
    // default); when it is not read, it is not mounted.
    if let Some(journal) = config.journal.as_ref() {
        assert_eq!(
            mounted.get("/var/log/journal"),
            Some(&("/var/log/journal", false)),
            "the journal mounted read-only at its own path"
        );
        assert_eq!(Path::new(mounted["/var/log/journal"].0), journal.dir);
        assert!(journal.units.iter().any(|u| u == "kubelet.service"));
        expected_hosts.insert("/var/log/journal");
    }
    // Issue 10: the control plane's log files (`control_plane.files`, job
    // "control-plane"): the directory of every pattern mounted read-only from the node's
    // same path, so the files the agent opens are the node's and their `filename` label
    // names them as the node does.
    for source in &config.files {
        assert!(
            source
                .labels
                .contains(&("job".to_owned(), "control-plane".to_owned())),
            "only the control plane's files come from the config file: {source:?}"
        );
        let dir = source.glob.dir().to_str().unwrap();
        assert_eq!(
            mounted.get(dir),
            Some(&(dir, false)),
            "{dir} (of {}) mounted read-only at its own path",
            source.glob
        );
        expected_hosts.insert(dir);
    }
    // Nothing else of the node is mounted but the state dir.
    let state_host = mounted
        .iter()
        .find(|(_, (_, w))| *w)
        .map(|(h, _)| *h)
        .expect("a writable state dir");
    expected_hosts.insert(state_host);
    assert_eq!(
        mounted.keys().copied().collect::<BTreeSet<_>>(),
        expected_hosts,
        "the host paths mounted are those the agent reads"
    );
    // The resource collector reads the host's cgroup tree and /proc, read-only, where the
    // config says.
    for (host, at) in [("/sys/fs/cgroup", &cgroup_root), ("/proc", &proc_root)] {
        let (path, writable) = mounted
            .get(host)
            .unwrap_or_else(|| panic!("{host} mounted for resource metrics"));
        assert!(!writable, "{host} read-only");
        assert_eq!(
            Path::new(path),
            at.as_path(),
            "{host} where the config reads it"
        );
    }
    let writable: Vec<_> = mounted.iter().filter(|(_, (_, w))| *w).collect();
    assert_eq!(
        writable.len(),
        1,
        "only the state dir is writable: {writable:?}"
    );
    assert_eq!(Path::new(writable[0].1 .0), config.state_dir);

    // Probes on the agent's /ready and /metrics, on the port it listens on.
    let (ready, port) = http_probe(c, "readiness");
    assert_eq!(ready, "/ready");
    assert_eq!(container_port(c, &port), port_of(&listen));
    assert_eq!(port_of(&listen), 3101, "the agent's default metrics port");
    let (live, port) = http_probe(c, "liveness");
    assert_eq!(live, "/metrics");
    assert_eq!(container_port(c, &port), port_of(&listen));
    check_resources(c);
    check_container_security(c);
    // Root, but without a capability (the manifest's comment says why).
    let psc = spec.security_context.as_ref().expect("pod securityContext");
    assert_eq!(psc.run_as_user, Some(0));
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault")
    );
    assert_eq!(spec.host_network, None, "no host network");
    server
}

/// The server's StatefulSet: non-root, its data on a PVC, probes, and its ConfigMap
/// accepted by the server's config loader.
pub fn check_server(o: &Objects) -> (String, i32) {
    assert_eq!(o.stateful_sets.len(), 1);
    let sts = &o.stateful_sets[0];
    let sts_spec = sts.spec.as_ref().unwrap();
    let spec = pod_spec_of(&sts_spec.template);
    let c = only_container(spec);
    assert_eq!(c.args.as_deref().unwrap()[0], "server");
    let text = config_text(o, spec, c);
    let config = kelp_server::ServerConfig::from_yaml(text, literal_env(c))
        .unwrap_or_else(|e| panic!("server.yaml: {e}"));
    assert!(
        config.listen.starts_with("0.0.0.0:"),
        "the server listens on the pod's address, not {}",
        config.listen
    );
    let port = port_of(&config.listen);
    assert!(
        config.store.retention_max_age_secs.is_some(),
        "a retention is set"
    );

    let (ready, p) = http_probe(c, "readiness");
    assert_eq!(ready, "/ready");
    assert_eq!(container_port(c, &p), port);
    let (_, p) = http_probe(c, "liveness");
    assert_eq!(container_port(c, &p), port);
    check_resources(c);
    check_container_security(c);
    let psc = spec.security_context.as_ref().expect("pod securityContext");
    assert_eq!(psc.run_as_non_root, Some(true));
    assert!(psc.run_as_user.is_some_and(|u| u != 0));
    assert!(psc.fs_group.is_some(), "fsGroup makes the volume writable");

    // The data dir is the PVC.
    let claims = sts_spec
        .volume_claim_templates
        .as_deref()
        .unwrap_or_default();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    let size = claim.spec.as_ref().unwrap().resources.as_ref().unwrap();
    assert!(size.requests.as_ref().unwrap().contains_key("storage"));
    let data = c
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| Some(&m.name) == claim.metadata.name.as_ref())
        .expect("the claim is mounted");
    assert_eq!(Path::new(&data.mount_path), config.data_dir);

    // The Service reaches this port on these pods.
    let pod_labels = sts_spec
        .template
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .as_ref()
        .unwrap();
    let svc = o
        .services
        .iter()
        .find(|s| s.spec.as_ref().unwrap().cluster_ip.as_deref() != Some("None"))
        .expect("a ClusterIP Service");
    let svc_spec = svc.spec.as_ref().unwrap();
    for (k, v) in svc_spec.selector.as_ref().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "the Service selects the server");
    }
    let svc_port = &svc_spec.ports.as_ref().unwrap()[0];
    assert_eq!(svc_port.port, 3100);
    assert_eq!(
        container_port(c, svc_port.target_port.as_ref().unwrap()),
        port
    );
    let headless = o
        .services
        .iter()
        .find(|s| s.metadata.name == sts_spec.service_name)
        .expect("the StatefulSet's headless Service");
    assert_eq!(
        headless.spec.as_ref().unwrap().cluster_ip.as_deref(),
        Some("None")
    );
    let name = svc.metadata.name.clone().unwrap();
    let ns = svc.metadata.namespace.clone().unwrap();
    (
        format!("http://{name}.{ns}.svc:{}", svc_port.port),
        svc_port.port,
    )
}

/// RBAC: read-only verbs on pods, namespaces, nodes and events (and the metrics the
/// APIService serves), bound to service accounts the workloads use; the agent's events
/// Lease ([`check_lease_rbac`]).
pub fn check_rbac(o: &Objects) {
    let read = BTreeSet::from(["get", "list", "watch"]);
    let mut core = BTreeSet::new();
    for role in &o.cluster_roles {
        for rule in role.rules.iter().flatten() {
            for verb in &rule.verbs {
                assert!(read.contains(verb.as_str()), "verb {verb} is not read-only");
            }
            let groups = rule.api_groups.as_deref().unwrap_or_default();
            let resources = rule.resources.as_deref().unwrap_or_default();
            for group in groups {
                let allowed: &[&str] = match group.as_str() {
                    "" => &["pods", "namespaces", "nodes", "events"],
                    "metrics.k8s.io" => &["pods", "nodes"],
                    g => panic!("API group {g:?} is not needed"),
                };
                for r in resources {
                    assert!(allowed.contains(&r.as_str()), "{group}/{r} is not needed");
                    if group.is_empty() {
                        core.insert(r.as_str());
                    }
                }
            }
            assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
        }
    }
    assert_eq!(
        core,
        BTreeSet::from(["events", "namespaces", "nodes", "pods"])
    );
    let accounts: BTreeSet<(String, String)> = o
        .service_accounts
        .iter()
        .map(|s| {
            let m = &s.metadata;
            (m.namespace.clone().unwrap(), m.name.clone().unwrap())
        })
        .collect();
    for b in &o.cluster_role_bindings {
        assert_eq!(b.role_ref.kind, "ClusterRole");
        assert!(
            o.cluster_roles
                .iter()
                .any(|r| r.metadata.name.as_ref() == Some(&b.role_ref.name)),
            "binding to a missing role {}",
            b.role_ref.name
        );
        for s in b.subjects.iter().flatten() {
            let key = (s.namespace.clone().unwrap(), s.name.clone());
            assert!(
                accounts.contains(&key),
                "binding to a missing account {key:?}"
            );
        }
    }
    let pods = o
        .daemon_sets
        .iter()
        .map(|d| (&d.metadata, &d.spec.as_ref().unwrap().template))
        .chain(
            o.stateful_sets
                .iter()
                .map(|s| (&s.metadata, &s.spec.as_ref().unwrap().template)),
        );
    for (meta, template) in pods {
        let sa = pod_spec_of(template)
            .service_account_name
            .clone()
            .expect("an account");
        let key = (meta.namespace.clone().unwrap(), sa);
        assert!(accounts.contains(&key), "{key:?} exists");
        assert!(
            o.cluster_role_bindings
                .iter()
                .flat_map(|b| b.subjects.iter().flatten())
                .any(|s| (s.namespace.clone().unwrap(), s.name.clone()) == key),
            "{key:?} is bound to a role"
        );
    }
    // The agent's account may list and watch pods (its pod watch).
    let ds = &o.daemon_sets[0];
    let sa = pod_spec_of(&ds.spec.as_ref().unwrap().template)
        .service_account_name
        .clone()
        .unwrap();
    let mut verbs = BTreeSet::new();
    for b in &o.cluster_role_bindings {
        if !b.subjects.iter().flatten().any(|s| s.name == sa) {
            continue;
        }
        let role = o
            .cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_ref() == Some(&b.role_ref.name))
            .unwrap();
        for rule in role.rules.iter().flatten() {
            let core = rule
                .api_groups
                .as_deref()
                .unwrap_or_default()
                .contains(&String::new());
            let pods = rule
                .resources
                .as_deref()
                .unwrap_or_default()
                .contains(&"pods".into());
            if core && pods {
                verbs.extend(rule.verbs.iter().cloned());
            }
        }
    }
    assert!(
        verbs.contains("list") && verbs.contains("watch"),
        "{sa} may watch pods"
    );
    // And list and watch the cluster's Events (the elected agent stores them).
    let events = o
        .cluster_role_bindings
        .iter()
        .filter(|b| b.subjects.iter().flatten().any(|s| s.name == sa))
        .any(|b| {
            o.cluster_roles
                .iter()
                .filter(|r| r.metadata.name.as_ref() == Some(&b.role_ref.name))
                .flat_map(|r| r.rules.iter().flatten())
                .any(|rule| {
                    rule.api_groups
                        .as_deref()
                        .unwrap_or_default()
                        .contains(&String::new())
                        && rule
                            .resources
                            .as_deref()
                            .unwrap_or_default()
                            .contains(&"events".into())
                        && rule.verbs.iter().any(|v| v == "list")
                        && rule.verbs.iter().any(|v| v == "watch")
                })
        });
    assert!(events, "{sa} may list and watch events");
    check_lease_rbac(o, ds.metadata.namespace.as_deref().unwrap(), &sa);
}

/// The one write the agents may make: their events Lease `kelp-events`, in their own
/// namespace (get, create, update, as client-go's leader election needs; get and update
/// limited to the Lease's name, create cannot be), through a Role bound to the agent's
/// account.
pub fn check_lease_rbac(o: &Objects, ns: &str, sa: &str) {
    assert_eq!(o.roles.len(), 1, "one Role: the Lease's");
    let role = &o.roles[0];
    assert_eq!(role.metadata.namespace.as_deref(), Some(ns));
    let mut granted = BTreeSet::new();
    for rule in role.rules.iter().flatten() {
        assert_eq!(
            rule.api_groups.as_deref(),
            Some(&["coordination.k8s.io".to_owned()][..])
        );
        assert_eq!(rule.resources.as_deref(), Some(&["leases".to_owned()][..]));
        for verb in &rule.verbs {
            match verb.as_str() {
                "create" => assert!(rule.resource_names.is_none()),
                "get" | "update" => assert_eq!(
                    rule.resource_names.as_deref(),
                    Some(&["kelp-events".to_owned()][..]),
                    "{verb} only on the Lease"
                ),
                v => panic!("verb {v} on leases is not needed"),
            }
            granted.insert(verb.as_str());
        }
    }
    assert_eq!(granted, BTreeSet::from(["create", "get", "update"]));
    assert_eq!(o.role_bindings.len(), 1);
    let b = &o.role_bindings[0];
    assert_eq!(b.metadata.namespace.as_deref(), Some(ns));
    assert_eq!(
        (b.role_ref.kind.as_str(), &b.role_ref.name),
        ("Role", role.metadata.name.as_ref().unwrap())
    );
    let subjects: Vec<(String, Option<String>)> = b
        .subjects
        .iter()
        .flatten()
        .map(|s| (s.name.clone(), s.namespace.clone()))
        .collect();
    assert_eq!(subjects, vec![(sa.to_owned(), Some(ns.to_owned()))]);
}

pub fn check_api_service(o: &Objects, service: &Service) {
    assert_eq!(o.api_services.len(), 1);
    let api = &o.api_services[0];
    assert_eq!(api.metadata.name.as_deref(), Some("v1beta1.metrics.k8s.io"));
    let spec = api.spec.as_ref().unwrap();
    assert_eq!(spec.group.as_deref(), Some("metrics.k8s.io"));
    assert_eq!(spec.version.as_deref(), Some("v1beta1"));
    assert!(
        spec.ca_bundle.is_some() != (spec.insecure_skip_tls_verify == Some(true)),
        "either a caBundle or insecureSkipTLSVerify"
    );
    let target = spec.service.as_ref().expect("a Service");
    assert_eq!(target.name.as_ref(), service.metadata.name.as_ref());
    assert_eq!(
        target.namespace.as_ref(),
        service.metadata.namespace.as_ref()
    );
    let ports = service.spec.as_ref().unwrap().ports.as_ref().unwrap();
    assert!(ports.iter().any(|p| Some(p.port) == target.port));
}

pub fn check_all(o: &Objects) {
    let server_url = check_agent(o);
    let (service_url, _) = check_server(o);
    assert_eq!(
        server_url, service_url,
        "the agents push to the server's Service"
    );
    check_rbac(o);
    let image = |t: &PodTemplateSpec| only_container(pod_spec_of(t)).image.clone().unwrap();
    let agent_image = image(&o.daemon_sets[0].spec.as_ref().unwrap().template);
    let server_image = image(&o.stateful_sets[0].spec.as_ref().unwrap().template);
    assert_eq!(agent_image, server_image, "one image, one binary");
    assert!(
        agent_image.ends_with(&format!(":{}", env!("CARGO_PKG_VERSION"))),
        "{agent_image} is tagged with Kelp's version"
    );
}
