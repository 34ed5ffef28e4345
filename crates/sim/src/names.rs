//! Realistic pod identities: namespaces, workload-style pod names, UUIDs, container names
//! and 64-hex container ids, all derived from the seed.

use crate::corpus::Kind;
use crate::rng::Rng;

/// The alphabet Kubernetes uses for generated name suffixes and pod-template hashes
/// (`k8s.io/apimachinery/pkg/util/rand`): no vowels, no look-alike digits.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// How a workload names its pods.
#[derive(Debug, Clone, Copy)]
enum Workload {
    /// `<app>-<10-char pod-template hash>-<5 chars>`.
    Deployment,
    /// `<app>-<ordinal>`.
    StatefulSet,
    /// `<app>-<5 chars>`.
    DaemonSet,
}

struct App {
    namespace: &'static str,
    name: &'static str,
    workload: Workload,
    containers: &'static [(&'static str, Kind)],
}

const fn app(
    namespace: &'static str,
    name: &'static str,
    workload: Workload,
    containers: &'static [(&'static str, Kind)],
) -> App {
    App {
        namespace,
        name,
        workload,
        containers,
    }
}

use Kind::{Access, Java, Json, Klog, Syslog};
use Workload::{DaemonSet, Deployment, StatefulSet};

const APPS: &[App] = &[
    app(
        "shop",
        "frontend",
        Deployment,
        &[("nginx", Access), ("istio-proxy", Access)],
    ),
    app(
        "shop",
        "cart",
        Deployment,
        &[("app", Json), ("istio-proxy", Access)],
    ),
    app(
        "shop",
        "checkout",
        Deployment,
        &[("app", Java), ("istio-proxy", Access)],
    ),
    app("shop", "payment", Deployment, &[("app", Java)]),
    app("shop", "catalog", Deployment, &[("app", Json)]),
    app("shop", "kafka", StatefulSet, &[("kafka", Java)]),
    app("kube-system", "coredns", Deployment, &[("coredns", Klog)]),
    app(
        "kube-system",
        "kube-proxy",
        DaemonSet,
        &[("kube-proxy", Klog)],
    ),
    app(
        "kube-system",
        "metrics-server",
        Deployment,
        &[("metrics-server", Klog)],
    ),
    app(
        "ingress-nginx",
        "ingress-nginx-controller",
        Deployment,
        &[("controller", Access)],
    ),
    app(
        "monitoring",
        "prometheus-k8s",
        StatefulSet,
        &[("prometheus", Json), ("config-reloader", Klog)],
    ),
    app("monitoring", "grafana", Deployment, &[("grafana", Json)]),
    app(
        "monitoring",
        "audit-exporter",
        DaemonSet,
        &[("exporter", Json)],
    ),
    app("ops", "bastion", Deployment, &[("sshd", Syslog)]),
    app(
        "ops",
        "keycloak",
        Deployment,
        &[("keycloak", Java), ("oauth2-proxy", Klog)],
    ),
];

/// Extra containers for `--containers-per-pod` beyond an app's own.
const SIDECARS: &[(&str, Kind)] = &[
    ("istio-proxy", Access),
    ("log-shipper", Json),
    ("config-reloader", Klog),
    ("cron", Syslog),
    ("envoy", Access),
    ("metrics-agent", Json),
    ("oauth2-proxy", Klog),
];

/// A pod as the simulator creates it.
#[derive(Debug, Clone)]
pub(crate) struct PodSpec {
    pub(crate) namespace: String,
    pub(crate) name: String,
    /// A random (version 4) UUID.
    pub(crate) uid: String,
    pub(crate) containers: Vec<ContainerSpec>,
}

/// A container of a [`PodSpec`].
#[derive(Debug, Clone)]
pub(crate) struct ContainerSpec {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// Relative share of the node's lines this container prints (1..=8).
    pub(crate) weight: u32,
}

/// The pod in `slot` after `generation` replacements, for `seed`. `containers` forces the
/// container count; `custom` makes every container replay the user corpus.
pub(crate) fn pod_spec(
    seed: u64,
    slot: usize,
    generation: u64,
    containers: Option<u32>,
    custom: bool,
) -> PodSpec {
    let mut rng = Rng::derive(seed, "pod", &[slot as u64, generation]);
    let app = &APPS[rng.index(APPS.len())];
    let name = match app.workload {
        Deployment => {
            // Replicas of one deployment share the pod-template hash.
            let mut h = Rng::derive(seed, app.name, &[]);
            format!(
                "{}-{}-{}",
                app.name,
                h.string(K8S_ALPHABET, 10),
                rng.string(K8S_ALPHABET, 5)
            )
        }
        StatefulSet => format!("{}-{slot}", app.name),
        DaemonSet => format!("{}-{}", app.name, rng.string(K8S_ALPHABET, 5)),
    };
    let uid = uuid_v4(&mut rng);
    let mut list: Vec<(String, Kind)> = app
        .containers
        .iter()
        .map(|(n, k)| (n.to_string(), *k))
        .collect();
    if let Some(want) = containers {
        let want = want as usize;
        list.truncate(want);
        for (n, k) in SIDECARS {
            if list.len() >= want {
                break;
            }
            if !list.iter().any(|(have, _)| have == n) {
                list.push((n.to_string(), *k));
            }
        }
        while list.len() < want {
            let n = list.len();
            list.push((format!("sidecar-{n}"), SIDECARS[n % SIDECARS.len()].1));
        }
    }
    let containers = list
        .into_iter()
        .map(|(name, kind)| ContainerSpec {
            name,
            kind: if custom { Kind::Custom } else { kind },
            weight: 1 + rng.below(8) as u32,
        })
        .collect();
    PodSpec {
        namespace: app.namespace.to_string(),
        name,
        uid,
        containers,
    }
}

/// A lowercase version-4 UUID (`8-4-4-4-12` hex digits).
fn uuid_v4(rng: &mut Rng) -> String {
    let hi = rng.next_u64();
    let lo = rng.next_u64();
    let hi = (hi & !0xF000) | 0x4000; // version 4
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// The 64-hex runtime id of an instance of a container.
pub(crate) fn container_id(
    seed: u64,
    slot: usize,
    generation: u64,
    container: usize,
    restart: u32,
) -> String {
    let mut rng = Rng::derive(
        seed,
        "container-id",
        &[
            slot as u64,
            generation,
            container as u64,
            u64::from(restart),
        ],
    );
    (0..4).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_k8s_suffix(s: &str, len: usize) -> bool {
        s.len() == len && s.bytes().all(|b| K8S_ALPHABET.contains(&b))
    }

    #[test]
    fn names_look_like_kubernetes_ones() {
        for slot in 0..200 {
            let p = pod_spec(5, slot, 0, None, false);
            assert!(!p.containers.is_empty());
            let parts: Vec<&str> = p.name.rsplitn(3, '-').collect();
            let app = APPS.iter().find(|a| p.name.starts_with(a.name)).unwrap();
            match app.workload {
                Deployment => assert!(
                    is_k8s_suffix(parts[0], 5) && is_k8s_suffix(parts[1], 10),
                    "{}",
                    p.name
                ),
                DaemonSet => assert!(is_k8s_suffix(parts[0], 5), "{}", p.name),
                StatefulSet => assert_eq!(parts[0], slot.to_string()),
            }
            let u: Vec<&str> = p.uid.split('-').collect();
            assert_eq!(
                u.iter().map(|s| s.len()).collect::<Vec<_>>(),
                [8, 4, 4, 4, 12]
            );
            assert!(
                u[2].starts_with('4') && "89ab".contains(&u[3][..1]),
                "{}",
                p.uid
            );
            assert!(!p.name.contains('_') && !p.namespace.contains('_'));
        }
        let id = container_id(1, 2, 3, 4, 5);
        assert!(
            id.len() == 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn container_count_can_be_forced_with_unique_names() {
        for want in [1u32, 2, 5, 12] {
            let p = pod_spec(9, 1, 0, Some(want), false);
            assert_eq!(p.containers.len(), want as usize);
            let mut names: Vec<&str> = p.containers.iter().map(|c| c.name.as_str()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), want as usize);
        }
    }

    #[test]
    fn replicas_share_the_template_hash_and_seeds_reproduce() {
        let a = pod_spec(3, 0, 0, None, false);
        assert_eq!(a.uid, pod_spec(3, 0, 0, None, false).uid);
        assert_ne!(a.uid, pod_spec(3, 0, 1, None, false).uid);
        let same_app: Vec<PodSpec> = (0..100)
            .map(|s| pod_spec(3, s, 0, None, false))
            .filter(|p| p.name.starts_with("cart-"))
            .collect();
        assert!(same_app.len() >= 2);
        let hash = |p: &PodSpec| p.name.split('-').nth(1).unwrap().to_string();
        assert!(same_app.iter().all(|p| hash(p) == hash(&same_app[0])));
    }
}
