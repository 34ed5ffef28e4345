//! Pod log paths (spec §2.1) and rotation names (§3.2).

use std::path::Path;

use kelp_k8s::path::{
    legacy_symlink_name, log_file_name, pod_dir_name, rotated_file_name, ContainerLogLink,
    PodLogPath, Rotation, RotationStamp, MAX_SYMLINK_STEM,
};
use kelp_k8s::{K8sError, PathReason};
use proptest::prelude::*;

const UID: &str = "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b";
const HASH: &str = "3c0a8e54d6fb2c1a9e7d4b3f2a1c0de9";
const ID: &str = "4f2d8c6a1b3e5f7092a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8";

fn stamp(s: &str) -> RotationStamp {
    RotationStamp::parse(s).unwrap()
}

#[test]
fn pod_log_paths_and_rotations() {
    // (relative path, namespace, pod, uid, container, restart, rotation)
    let table: Vec<(String, &str, &str, &str, &str, u32, Rotation)> = vec![
        (
            format!("shop_api-7d9c5b6f4d-x2x9q_{UID}/api/0.log"),
            "shop",
            "api-7d9c5b6f4d-x2x9q",
            UID,
            "api",
            0,
            Rotation::Live,
        ),
        (
            format!("shop_api-0_{UID}/api/3.log.20240601-121530"),
            "shop",
            "api-0",
            UID,
            "api",
            3,
            Rotation::Rotated {
                stamp: stamp("20240601-121530"),
            },
        ),
        (
            format!("shop_api-0_{UID}/api/3.log.20240601-121040.gz"),
            "shop",
            "api-0",
            UID,
            "api",
            3,
            Rotation::RotatedGz {
                stamp: stamp("20240601-121040"),
            },
        ),
        // A static pod: the UID is the 32-hex config hash.
        (
            format!("kube-system_kube-apiserver-node1_{HASH}/kube-apiserver/12.log"),
            "kube-system",
            "kube-apiserver-node1",
            HASH,
            "kube-apiserver",
            12,
            Rotation::Live,
        ),
        // Pod names are subdomains: dots allowed.
        (
            format!("default_web.v2.example_{UID}/c/4294967295.log"),
            "default",
            "web.v2.example",
            UID,
            "c",
            u32::MAX,
            Rotation::Live,
        ),
        // The UID is taken leniently, as the kubelet takes the last field.
        (
            "default_p_anything-GOES.here/c/1.log".to_string(),
            "default",
            "p",
            "anything-GOES.here",
            "c",
            1,
            Rotation::Live,
        ),
    ];
    for (rel, ns, pod, uid, container, restart, rotation) in &table {
        let p = PodLogPath::parse(rel).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let want = PodLogPath {
            namespace: ns,
            pod,
            uid,
            container,
            restart: *restart,
            rotation: *rotation,
        };
        assert_eq!(p, want, "{rel}");
        assert_eq!(p.to_string(), *rel, "Display prints the relative path");
        // The same under a pods directory, given with or without a trailing slash.
        for dir in ["/var/log/pods", "/var/log/pods/", "/host/var/log/pods"] {
            let full = format!("{}/{rel}", dir.trim_end_matches('/'));
            assert_eq!(PodLogPath::parse_under(dir, &full), Ok(want), "{full}");
            assert_eq!(
                PodLogPath::from_path(Path::new(dir), Path::new(&full)),
                Ok(want),
                "{full}"
            );
        }
    }
    let p = PodLogPath::parse(&table[3].0).unwrap();
    assert!(p.is_static_pod());
    assert!(!PodLogPath::parse(&table[0].0).unwrap().is_static_pod());
    let rotated = PodLogPath::parse(&table[2].0).unwrap();
    assert_eq!(rotated.rotation.stamp(), Some(stamp("20240601-121040")));
    assert_eq!(
        rotated.live().to_string(),
        format!("shop_api-0_{UID}/api/3.log")
    );
}

#[test]
fn steady_state_rotation_names_sort_chronologically() {
    // §3.2's steady state, listed in a random order.
    let names = [
        "3.log.20240601-121040.gz",
        "3.log",
        "3.log.20240601-120100.gz",
        "3.log.20240601-121530",
        "3.log.20240601-120550.gz",
    ];
    let mut parsed: Vec<PodLogPath<'_>> = Vec::new();
    let rels: Vec<String> = names
        .iter()
        .map(|n| format!("ns_pod_{UID}/api/{n}"))
        .collect();
    for r in &rels {
        parsed.push(PodLogPath::parse(r).unwrap());
    }
    parsed.sort_by_key(|p| p.rotation.stamp().map_or((1, None), |s| (0, Some(s))));
    let order: Vec<String> = parsed
        .iter()
        .map(|p| p.to_string().rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        order,
        [
            "3.log.20240601-120100.gz",
            "3.log.20240601-120550.gz",
            "3.log.20240601-121040.gz",
            "3.log.20240601-121530",
            "3.log"
        ]
    );
    assert!(parsed.iter().all(|p| p.live() == parsed[4]));
}

#[test]
fn everything_else_is_rejected_with_a_reason() {
    use PathReason::*;
    let d = format!("ns_pod_{UID}"); // 43 bytes
    let table: Vec<(String, usize, PathReason)> = vec![
        // §3.2: leftovers of an interrupted rotation.
        (format!("{d}/c/0.log.20240601-121530.tmp"), 67, RotationTemp),
        (
            format!("{d}/c/0.log.20240601-121530.gz.tmp"),
            70,
            RotationTemp,
        ),
        (format!("{d}/c/0.log.tmp"), 51, RotationTemp),
        // Bad stamps and other suffixes.
        (
            format!("{d}/c/0.log.20241301-121530"),
            56,
            InvalidStamp("month out of range"),
        ),
        (
            format!("{d}/c/0.log.20240601-121530x"),
            67,
            InvalidStamp("expected YYYYMMDD-HHMMSS"),
        ),
        (
            format!("{d}/c/0.log.20240601-12153.gz"),
            66,
            InvalidStamp("expected YYYYMMDD-HHMMSS"),
        ),
        (
            format!("{d}/c/0.log.2024060a-121530"),
            59,
            InvalidStamp("expected a digit"),
        ),
        (format!("{d}/c/0.log.1"), 51, UnknownSuffix),
        (format!("{d}/c/0.log.gz"), 51, UnknownSuffix),
        (format!("{d}/c/0.logx"), 51, UnknownSuffix),
        (format!("{d}/c/0.txt"), 47, NotALogFile),
        (format!("{d}/c/0"), 47, NotALogFile),
        // Restart counts as the kubelet writes them.
        (
            format!("{d}/c/x.log"),
            46,
            InvalidRestart("expected digits"),
        ),
        (format!("{d}/c/.log"), 46, InvalidRestart("expected digits")),
        (
            format!("{d}/c/-1.log"),
            46,
            InvalidRestart("expected digits"),
        ),
        (format!("{d}/c/01.log"), 46, InvalidRestart("leading zero")),
        (
            format!("{d}/c/4294967296.log"),
            46,
            InvalidRestart("too large"),
        ),
        // Pod directory: exactly three `_` fields, valid names, a UID.
        (format!("{UID}/c/0.log"), 0, Fields { found: 1 }),
        ("ns_pod/c/0.log".to_string(), 0, Fields { found: 2 }),
        (format!("ns_pod_x_{UID}/c/0.log"), 0, Fields { found: 4 }),
        ("ns_pod_/c/0.log".to_string(), 7, EmptyUid),
        (
            format!("Ns_pod_{UID}/c/0.log"),
            0,
            InvalidName {
                field: "namespace",
                rule: "must consist of lowercase alphanumerics and '-'",
            },
        ),
        (
            format!("n.s_pod_{UID}/c/0.log"),
            1,
            InvalidName {
                field: "namespace",
                rule: "must consist of lowercase alphanumerics and '-'",
            },
        ),
        (
            format!("_pod_{UID}/c/0.log"),
            0,
            InvalidName {
                field: "namespace",
                rule: "must not be empty",
            },
        ),
        (
            format!("ns_-pod_{UID}/c/0.log"),
            3,
            InvalidName {
                field: "pod",
                rule: "must start with an alphanumeric character",
            },
        ),
        (
            format!("ns_pod._{UID}/c/0.log"),
            7,
            InvalidName {
                field: "pod",
                rule: "must not be empty",
            },
        ),
        (
            format!("{d}/C/0.log"),
            44,
            InvalidName {
                field: "container",
                rule: "must consist of lowercase alphanumerics and '-'",
            },
        ),
        (
            format!("{d}/c.d/0.log"),
            45,
            InvalidName {
                field: "container",
                rule: "must consist of lowercase alphanumerics and '-'",
            },
        ),
        (
            format!("{d}/{}/0.log", "c".repeat(64)),
            44 + 63,
            InvalidName {
                field: "container",
                rule: "must be at most 63 characters",
            },
        ),
        // Depth: exactly <pod dir>/<container>/<file>.
        (format!("{d}/0.log"), 49, Depth { found: 2 }),
        // The pre-1.14 layout, <uid>/<container>_<n>.log.
        (format!("{UID}/c_0.log"), 44, Depth { found: 2 }),
        (format!("{d}/c/0.log/x"), 52, Depth { found: 4 }),
        (format!("{d}/c/0.log/"), 52, Depth { found: 4 }),
        (format!("/{d}/c/0.log"), 0, EmptyComponent),
        (format!("{d}//c/0.log"), 44, EmptyComponent),
        (String::new(), 0, EmptyComponent),
    ];
    let mut bad = Vec::new();
    for (rel, offset, reason) in &table {
        let got = PodLogPath::parse(rel);
        if got
            != Err(K8sError::PodLogPath {
                offset: *offset,
                reason: *reason,
            })
        {
            bad.push(format!("{rel}: got {got:?}, want {offset} {reason:?}"));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
    // Under a pods directory, offsets are offsets in the full path.
    let full = format!("/var/log/pods/{d}/c/0.log.tmp");
    assert_eq!(
        PodLogPath::parse_under("/var/log/pods", &full),
        Err(K8sError::PodLogPath {
            offset: 14 + 51,
            reason: RotationTemp
        })
    );
    for (dir, path, at) in [
        ("/var/log/pods", "/var/log/containers/x.log", 9),
        ("/var/log/pods", "/var/log/podsx/a_b_c/c/0.log", 13),
        ("/var/log/pods", "/var/log/pods", 13),
        ("/var/log/pods", "var/log/pods/a_b_c/c/0.log", 0),
    ] {
        assert_eq!(
            PodLogPath::parse_under(dir, path),
            Err(K8sError::PodLogPath {
                offset: at,
                reason: NotUnderDir
            }),
            "{path}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(
            b"/var/log/pods/a_b_c/c/\xff.log",
        ));
        assert_eq!(
            PodLogPath::from_path(Path::new("/var/log/pods"), bad),
            Err(K8sError::PodLogPath {
                offset: 0,
                reason: NotUtf8
            })
        );
    }
    let e = PodLogPath::parse("ns_pod/c/0.log").unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a pod log path (byte 0): expected 3 '_'-separated fields, found 2"
    );
}

#[test]
fn legacy_symlink_names() {
    let name = format!("api-7d9c5b6f4d-x2x9q_shop_api-sidecar-{ID}.log");
    let full = ContainerLogLink::parse(&name).unwrap();
    assert_eq!(
        full,
        ContainerLogLink {
            pod: "api-7d9c5b6f4d-x2x9q",
            namespace: "shop",
            container: "api-sidecar",
            container_id: ID,
            truncated: false
        }
    );
    let under = format!("/var/log/containers/p_ns_c-{ID}.log");
    let l = ContainerLogLink::parse_under("/var/log/containers", &under).unwrap();
    assert_eq!(
        (l.pod, l.namespace, l.container, l.container_id),
        ("p", "ns", "c", ID)
    );
    assert_eq!(
        ContainerLogLink::from_path(Path::new("/var/log/containers/"), Path::new(&under)),
        Ok(l)
    );

    // A long pod name: the kubelet cuts the stem to 251 bytes, cutting the id.
    let pod = "p".repeat(200);
    let name = legacy_symlink_name(&pod, "ns", "container", ID);
    assert_eq!(name.len(), MAX_SYMLINK_STEM + 4);
    let l = ContainerLogLink::parse(&name).unwrap();
    assert!(l.truncated);
    assert_eq!(
        (l.pod, l.namespace, l.container),
        (pod.as_str(), "ns", "container")
    );
    assert!(ID.starts_with(l.container_id) && l.container_id.len() < ID.len());
    // Cut right after the '-': the id is empty, which only a cut name may have.
    let pod = "p".repeat(MAX_SYMLINK_STEM - "_ns_c-".len());
    let name = legacy_symlink_name(&pod, "ns", "c", ID);
    let l = ContainerLogLink::parse(&name).unwrap();
    assert_eq!((l.container_id, l.truncated), ("", true));
    // A name of exactly 251 bytes is flagged, though the id may be whole.
    let pod = "p".repeat(MAX_SYMLINK_STEM - "_ns_c-".len() - ID.len());
    let name = legacy_symlink_name(&pod, "ns", "c", ID);
    let l = ContainerLogLink::parse(&name).unwrap();
    assert_eq!((l.container_id, l.truncated), (ID, true));

    use PathReason::*;
    let bad: Vec<(String, usize, PathReason)> = vec![
        (format!("p_ns_c-{ID}"), 71, MissingLogExtension),
        (format!("p_ns_c-{ID}.log.1"), 77, MissingLogExtension),
        (format!("p_ns-{ID}.log"), 0, Fields { found: 2 }),
        (format!("p_ns_c_d-{ID}.log"), 0, Fields { found: 4 }),
        ("p_ns_c.log".to_string(), 6, MissingContainerId),
        ("p_ns_c-.log".to_string(), 7, InvalidContainerId("empty")),
        (
            "p_ns_c-xyz.log".to_string(),
            7,
            InvalidContainerId("not lowercase hex"),
        ),
        (
            "p_ns_c-ABC.log".to_string(),
            7,
            InvalidContainerId("not lowercase hex"),
        ),
        (
            format!("p_ns_c-{ID}0.log"),
            71,
            InvalidContainerId("longer than 64 digits"),
        ),
        (
            format!("P_ns_c-{ID}.log"),
            0,
            InvalidName {
                field: "pod",
                rule: "must consist of lowercase alphanumerics, '-' and '.'",
            },
        ),
        (
            format!("p_n.s_c-{ID}.log"),
            3,
            InvalidName {
                field: "namespace",
                rule: "must consist of lowercase alphanumerics and '-'",
            },
        ),
        (
            format!("p_ns_-{ID}.log"),
            5,
            InvalidName {
                field: "container",
                rule: "must not be empty",
            },
        ),
        (
            format!("{}_ns_c-{ID}.log", "p".repeat(200)),
            MAX_SYMLINK_STEM,
            TooLong {
                max: MAX_SYMLINK_STEM,
            },
        ),
    ];
    let mut wrong = Vec::new();
    for (name, offset, reason) in &bad {
        let got = ContainerLogLink::parse(name);
        if got
            != Err(K8sError::ContainerLogLink {
                offset: *offset,
                reason: *reason,
            })
        {
            wrong.push(format!("{name}: got {got:?}, want {offset} {reason:?}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(
        ContainerLogLink::parse_under("/var/log/containers", "/var/log/containers/x/p_ns_c-ab.log"),
        Err(K8sError::ContainerLogLink {
            offset: 21,
            reason: NotUnderDir
        })
    );
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
}

fn subdomain() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?){0,3}"
}

fn uid() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[0-9a-f]{32}"
    ]
}

fn rotation() -> impl Strategy<Value = Rotation> {
    let stamp = (0u16..=9999, 1u8..=12, 1u8..=31, 0u8..24, 0u8..60, 0u8..60)
        .prop_filter_map("valid date", |(y, mo, d, h, mi, s)| {
            RotationStamp::new(y, mo, d, h, mi, s)
        });
    prop_oneof![
        Just(Rotation::Live),
        stamp.clone().prop_map(|stamp| Rotation::Rotated { stamp }),
        stamp.prop_map(|stamp| Rotation::RotatedGz { stamp }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The kubelet's builders and the parsers agree on every valid identity.
    #[test]
    fn build_then_parse(ns in label(), pod in subdomain(), uid in uid(), container in label(), restart in any::<u32>(), rotation in rotation()) {
        let file = match rotation {
            Rotation::Live => log_file_name(restart),
            Rotation::Rotated { stamp } => rotated_file_name(restart, &stamp.to_string()),
            Rotation::RotatedGz { stamp } => format!("{}.gz", rotated_file_name(restart, &stamp.to_string())),
        };
        let rel = format!("{}/{container}/{file}", pod_dir_name(&ns, &pod, &uid));
        let p = PodLogPath::parse(&rel).unwrap();
        prop_assert_eq!(p, PodLogPath { namespace: &ns, pod: &pod, uid: &uid, container: &container, restart, rotation });
        prop_assert_eq!(p.to_string(), rel.clone());
        prop_assert_eq!(p.is_static_pod(), uid.len() == 32);
        // A `.tmp` twin is never a log file.
        let tmp = format!("{rel}.tmp");
        prop_assert!(PodLogPath::parse(&tmp).is_err());
    }

    #[test]
    fn symlink_build_then_parse(pod in subdomain(), ns in label(), container in label(), id in "[0-9a-f]{64}") {
        let name = legacy_symlink_name(&pod, &ns, &container, &id);
        let before_id = pod.len() + ns.len() + container.len() + 3;
        // A cut that reaches the container name cannot be told apart; not tested.
        prop_assume!(before_id <= MAX_SYMLINK_STEM);
        let l = ContainerLogLink::parse(&name).unwrap();
        prop_assert_eq!((l.pod, l.namespace, l.container), (pod.as_str(), ns.as_str(), container.as_str()));
        prop_assert_eq!(l.truncated, before_id + id.len() >= MAX_SYMLINK_STEM);
        if before_id + id.len() > MAX_SYMLINK_STEM {
            prop_assert!(id.starts_with(l.container_id));
            prop_assert_eq!(l.container_id.len(), MAX_SYMLINK_STEM - before_id);
        } else {
            prop_assert_eq!(l.container_id, id.as_str());
        }
    }

    #[test]
    fn parsers_never_panic(s in "[a-z0-9_./-]{0,80}|\\PC{0,80}") {
        let _ = PodLogPath::parse(&s);
        let _ = PodLogPath::parse_under("/var/log/pods", &s);
        let _ = ContainerLogLink::parse(&s);
        let _ = RotationStamp::parse(&s);
    }
}
