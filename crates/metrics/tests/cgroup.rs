//! Fixture cgroup trees for each driver, runtime naming and QoS class → exact values.

use std::fs;

use kelp_metrics::cgroup::{scan_with_clock, Driver, Qos, Runtime, Usage};
use kelp_metrics::MetricsError;
use kelp_model::Timestamp;

use crate::fixture::{self, cgroup, cgroup_root, container_dir, id, pod_dir, uid};

fn clock() -> impl FnMut() -> Timestamp {
    let mut t = 1_717_243_215_000_000_000;
    move || {
        t += 1_000_000;
        Timestamp(t)
    }
}

/// Three pods (one per QoS class), each with a sandbox and one or two containers.
fn build(root: &std::path::Path, driver: Driver, runtime: Runtime) {
    cgroup_root(root);
    let qos = [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort];
    for (p, q) in qos.into_iter().enumerate() {
        let p = p as u32;
        let pod = root.join(pod_dir(driver, q, &uid(p)));
        cgroup(
            &pod,
            1_000_000 * (p as u64 + 1),
            100_000_000 + u64::from(p),
            1_000,
        );
        for c in 0..=p.min(1) + 1 {
            let n = p * 10 + c;
            let dir = pod.join(container_dir(driver, runtime, &id(n)));
            cgroup(
                &dir,
                5_300_000 + u64::from(n),
                52_457_472 + u64::from(n),
                4_194_304,
            );
        }
        if driver == Driver::Systemd && runtime == Runtime::CriO {
            // conmon's scope sits beside the container's: never a container.
            cgroup(
                &pod.join(format!("crio-conmon-{}.scope", id(p * 10))),
                7,
                7,
                0,
            );
        }
    }
    // Other cgroups a node has under kubepods: not pods.
    let top = root.join(driver.top_dir());
    fs::create_dir_all(top.join("not-a-pod")).unwrap();
    fs::write(top.join("cpu.stat"), "usage_usec 1\n").unwrap();
}

#[test]
fn every_driver_runtime_and_qos() {
    for driver in [Driver::Systemd, Driver::Cgroupfs] {
        for runtime in [Runtime::Containerd, Runtime::CriO] {
            let tmp = tempfile::tempdir().unwrap();
            build(tmp.path(), driver, runtime);
            let scan = scan_with_clock(tmp.path(), &mut clock()).unwrap();
            let what = format!("{driver:?}/{runtime:?}");
            assert_eq!(scan.driver, driver, "{what}");
            assert!(scan.skipped.is_empty(), "{what}: {:?}", scan.skipped);
            assert_eq!(scan.pods.len(), 3, "{what}");
            for (p, pod) in scan.pods.iter().enumerate() {
                let p = p as u32;
                assert_eq!(pod.uid, uid(p), "{what}");
                assert_eq!(
                    pod.qos,
                    [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort][p as usize]
                );
                assert_eq!(
                    pod.path,
                    tmp.path().join(pod_dir(driver, pod.qos, &pod.uid))
                );
                assert_eq!(
                    pod.usage,
                    Usage {
                        cpu_ns: 1_000_000_000 * (u64::from(p) + 1),
                        memory_working_set: 99_999_000 + u64::from(p)
                    }
                );
                let ids: Vec<_> = pod.containers.iter().map(|c| c.id.clone()).collect();
                let want: Vec<_> = (0..=p.min(1) + 1).map(|c| id(p * 10 + c)).collect();
                assert_eq!(ids, want, "{what}");
                for c in &pod.containers {
                    let n = u32::from_str_radix(&c.id[..8], 16).unwrap();
                    assert_eq!(c.runtime, runtime, "{what}");
                    // spec §5.2: 52457472 − 4194304 = 48263168 (+n from the fixture).
                    assert_eq!(
                        c.usage,
                        Usage {
                            cpu_ns: 5_300_000_000 + u64::from(n) * 1000,
                            memory_working_set: 48_263_168 + u64::from(n)
                        },
                        "{what}"
                    );
                    assert!(c.time > pod.time && c.start_time.is_some());
                }
            }
        }
    }
}

#[test]
fn static_pod_uid_and_working_set_floor() {
    let tmp = tempfile::tempdir().unwrap();
    cgroup_root(tmp.path());
    let hash = "3c0a5e7f9b2d4c6e8a0b1c2d3e4f5a6b";
    let pod = tmp.path().join(format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{hash}.slice"
    ));
    cgroup(&pod, 10, 100, 500);
    cgroup(
        &pod.join(container_dir(Driver::Systemd, Runtime::Containerd, &id(1))),
        3,
        4_096,
        8_192,
    );
    let scan = scan_with_clock(tmp.path(), &mut clock()).unwrap();
    assert_eq!(scan.pods[0].uid, hash);
    // max(0, usage − inactive_file)
    assert_eq!(scan.pods[0].usage.memory_working_set, 0);
    assert_eq!(
        scan.pods[0].containers[0].usage,
        Usage {
            cpu_ns: 3_000,
            memory_working_set: 0
        }
    );
}

#[test]
fn bad_files_skip_the_cgroup_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    build(root, Driver::Cgroupfs, Runtime::Containerd);
    let pod1 = root.join(pod_dir(Driver::Cgroupfs, Qos::Burstable, &uid(1)));
    fs::remove_file(pod1.join(id(10)).join("memory.current")).unwrap();
    fs::write(pod1.join(id(11)).join("cpu.stat"), "usage_usec lots\n").unwrap();
    fs::write(pod1.join(id(12)).join("memory.stat"), "anon 1\n").unwrap();
    let pod2 = root.join(pod_dir(Driver::Cgroupfs, Qos::BestEffort, &uid(2)));
    fs::write(pod2.join("memory.current"), "").unwrap();

    let scan = scan_with_clock(root, &mut clock()).unwrap();
    assert_eq!(
        scan.pods.iter().map(|p| p.uid.clone()).collect::<Vec<_>>(),
        [uid(0), uid(1)]
    );
    assert!(scan.pods[1].containers.is_empty());
    let mut reasons: Vec<String> = scan.skipped.iter().map(|s| s.error.to_string()).collect();
    reasons.sort();
    let p = |d: &std::path::Path, f: &str| d.join(f).display().to_string();
    assert_eq!(
        reasons,
        [
            format!(
                "{} has no \"inactive_file\" field",
                p(&pod1.join(id(12)), "memory.stat")
            ),
            format!(
                "bad content in {}: expected an unsigned integer, found \"\"",
                p(&pod2, "memory.current")
            ),
            format!(
                "bad content in {}: usage_usec: expected an unsigned integer, found \"lots\"",
                p(&pod1.join(id(11)), "cpu.stat")
            ),
            format!(
                "cannot read {}: No such file or directory (os error 2)",
                p(&pod1.join(id(10)), "memory.current")
            ),
        ]
    );
}

#[test]
fn not_v2_and_no_kubepods_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let err = scan_with_clock(tmp.path(), &mut clock()).unwrap_err();
    assert!(matches!(err, MetricsError::NotCgroupV2 { .. }), "{err}");
    fixture::cgroup_root(tmp.path());
    let err = scan_with_clock(tmp.path(), &mut clock()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no kubepods.slice or kubepods cgroup under {}",
            tmp.path().display()
        )
    );
}

/// This machine: a real scan of `/sys/fs/cgroup` must not fail in an unexpected way.
#[test]
fn real_sys_fs_cgroup() {
    let root = std::path::Path::new(kelp_metrics::cgroup::DEFAULT_ROOT);
    match kelp_metrics::cgroup::scan(root) {
        Ok(scan) => println!(
            "{} pod cgroups, {} skipped",
            scan.pods.len(),
            scan.skipped.len()
        ),
        Err(MetricsError::NotCgroupV2 { .. }) => {
            println!("real scan skipped: /sys/fs/cgroup is not cgroup v2 on this machine (no cgroup.controllers)")
        }
        Err(MetricsError::NoKubepods { .. }) => {
            println!("real scan: cgroup v2 but not a Kubernetes node")
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
}
