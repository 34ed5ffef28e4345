//! Joining a cgroup scan with the pod log tree.

use kelp_metrics::cgroup::{scan_with_clock, Driver, Qos, Runtime};
use kelp_metrics::collect::{collect, Sources};
use kelp_metrics::mapping::{join, LogIndex};
use kelp_model::Timestamp;

use crate::fixture::{cgroup, cgroup_root, container_dir, id, log, pod_dir, uid};

#[test]
fn names_containers_and_leaves_the_sandbox_at_pod_level() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, pods, links) = (
        tmp.path().join("cg"),
        tmp.path().join("pods"),
        tmp.path().join("containers"),
    );
    cgroup_root(&root);
    let d = Driver::Systemd;
    // shop/api: sandbox id(0), api id(1), sidecar id(2).
    let api = root.join(pod_dir(d, Qos::Burstable, &uid(1)));
    cgroup(&api, 5_410_000, 60_000_000, 0);
    cgroup(
        &api.join(container_dir(d, Runtime::Containerd, &id(0))),
        10_000,
        1_000_000,
        0,
    );
    cgroup(
        &api.join(container_dir(d, Runtime::Containerd, &id(1))),
        5_300_000,
        52_457_472,
        4_194_304,
    );
    cgroup(
        &api.join(container_dir(d, Runtime::Containerd, &id(2))),
        100_000,
        2_000_000,
        0,
    );
    log(
        [&pods, &links],
        "shop",
        "api-7d9c5b6f4d-x2x9q",
        &uid(1),
        "api",
        0,
        &id(1),
    );
    log(
        [&pods, &links],
        "shop",
        "api-7d9c5b6f4d-x2x9q",
        &uid(1),
        "log-shipper",
        2,
        &id(2),
    );
    // The previous instance's symlink (its cgroup is gone) must not confuse anything.
    log(
        [&pods, &links],
        "shop",
        "api-7d9c5b6f4d-x2x9q",
        &uid(1),
        "log-shipper",
        1,
        &id(9),
    );
    // A pod cgroup with no log tree yet.
    cgroup(&root.join(pod_dir(d, Qos::Guaranteed, &uid(3))), 1, 1, 0);
    // A same-named pod in another namespace claiming id(2) must not match.
    log(
        [&pods, &links],
        "other",
        "api-7d9c5b6f4d-x2x9q",
        &uid(4),
        "api",
        0,
        &id(0),
    );

    let scan = scan_with_clock(&root, &mut || Timestamp(1)).unwrap();
    let index = LogIndex::read(&pods, &links).unwrap();
    let c = index
        .container(&id(2), index.pod(&uid(1)).unwrap())
        .unwrap();
    assert_eq!(c.container, "log-shipper");
    assert!(index.has_container(&id(9)) && !index.has_container(&id(5)));
    let joined = join(&scan, &index);
    assert_eq!(joined.unknown_pods, [uid(3)]);
    assert_eq!(joined.pods.len(), 1);
    let p = &joined.pods[0];
    assert_eq!(
        (p.namespace.as_str(), p.pod.as_str(), p.uid.as_str()),
        ("shop", "api-7d9c5b6f4d-x2x9q", uid(1).as_str())
    );
    assert_eq!(p.usage.cpu_ns, 5_410_000_000);
    let names: Vec<_> = p
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c.usage.memory_working_set))
        .collect();
    assert_eq!(names, [("api", 48_263_168), ("log-shipper", 2_000_000)]);
    assert_eq!(p.unnamed, [id(0)]);
}

#[test]
fn truncated_symlink_matches_by_prefix_within_its_pod() {
    let tmp = tempfile::tempdir().unwrap();
    let (root, pods, links) = (
        tmp.path().join("cg"),
        tmp.path().join("pods"),
        tmp.path().join("containers"),
    );
    cgroup_root(&root);
    let pod = root.join(pod_dir(Driver::Cgroupfs, Qos::BestEffort, &uid(7)));
    cgroup(&pod, 1, 1, 0);
    cgroup(
        &pod.join(container_dir(Driver::Cgroupfs, Runtime::CriO, &id(7))),
        2,
        3,
        0,
    );
    // pod + ns + container + 3 separators + 20 id digits = 251 bytes: the id is cut.
    let (ns, c) = ("n".repeat(63), "c".repeat(63));
    let long_pod = "p".repeat(251 - 3 - 20 - 126);
    let name = kelp_k8s::path::legacy_symlink_name(&long_pod, &ns, &c, &id(7));
    assert!(name.ends_with(&format!("-{}.log", &id(7)[..20])));
    let dir = pods.join(format!("{ns}_{long_pod}_{}", uid(7))).join(&c);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("0.log"), "").unwrap();
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(dir.join("0.log"), links.join(&name)).unwrap();
    let scan = scan_with_clock(&root, &mut || Timestamp(1)).unwrap();
    let joined = join(&scan, &LogIndex::read(&pods, &links).unwrap());
    assert_eq!(joined.pods[0].containers[0].name, c);
    assert!(joined.pods[0].unnamed.is_empty());
}

#[test]
fn collect_reads_all_sources_and_gives_the_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let src = crate::fixture::node(tmp.path(), 1000, "anon 10\nfile 20\ninactive_file 5\n");
    let pod = src
        .cgroup_root
        .join(pod_dir(Driver::Cgroupfs, Qos::Guaranteed, &uid(1)));
    cgroup(&pod, 9, 9, 0);
    cgroup(&pod.join(id(1)), 5, 6, 1);
    log(
        [&src.pods_dir, &src.containers_dir],
        "default",
        "web",
        &uid(1),
        "nginx",
        0,
        &id(1),
    );
    // The sandbox has no log: its files are not even read (these are broken).
    std::fs::create_dir_all(pod.join(id(2))).unwrap();
    let c = collect(&src).unwrap();
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    assert_eq!(c.joined.pods[0].unnamed, [id(2)]);
    assert_eq!(c.node.usage.memory_working_set, 25);
    let b = c.to_batch("node-a");
    assert_eq!(b.nodes[0].0, "node-a");
    assert_eq!(b.nodes[0].1.cpu_ns, 1_000_000);
    assert_eq!(
        b.nodes[0].1.timestamp.0 % 1_000_000,
        0,
        "kubelet timestamps are in ms"
    );
    assert_eq!(b.pods[0].containers[0].1.timestamp.0 % 1_000_000, 0);
    assert_eq!(b.pods.len(), 1);
    assert_eq!(
        (b.pods[0].name.as_str(), b.pods[0].containers[0].0.as_str()),
        ("web", "nginx")
    );
    assert_eq!(
        (
            b.pods[0].containers[0].1.cpu_ns,
            b.pods[0].containers[0].1.memory
        ),
        (5_000, 5)
    );
    let err = collect(&Sources {
        pods_dir: tmp.path().join("nope"),
        ..src
    })
    .unwrap_err();
    assert!(err.to_string().starts_with("cannot read "), "{err}");
}
