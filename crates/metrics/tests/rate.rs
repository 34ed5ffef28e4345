//! metrics-server's storage and rate rules.

use kelp_metrics::rate::{rate, Batch, PodPoints, Point, RateError, Storage};
use kelp_model::{GoDuration, Timestamp};
use proptest::prelude::*;

const S: i64 = 1_000_000_000;

fn pt(t_ms: i64, cpu_ns: u64) -> Point {
    Point {
        start_time: Timestamp(S),
        timestamp: Timestamp(t_ms * 1_000_000),
        cpu_ns,
        memory: 48_263_168,
    }
}

fn pod(name: &str, containers: &[(&str, Point)]) -> PodPoints {
    PodPoints {
        namespace: "shop".into(),
        name: name.into(),
        containers: containers
            .iter()
            .map(|(n, p)| (n.to_string(), *p))
            .collect(),
    }
}

fn storage() -> Storage {
    Storage::new(GoDuration::from_secs(15))
}

#[test]
fn spec_example_and_truncation() {
    let r = rate(&pt(115_000, 5_300_000_000), &pt(100_000, 5_000_000_000)).unwrap();
    assert_eq!(
        (r.cpu_nanocores, r.memory, r.window.to_string()),
        (20_000_000, 48_263_168, "15s".into())
    );
    // 1 ns over 15.004 s is 0.066… nanocores: truncated.
    let r = rate(&pt(115_004, 1), &pt(100_000, 0)).unwrap();
    assert_eq!(
        (r.cpu_nanocores, r.window.to_string()),
        (0, "15.004s".into())
    );
    let r = rate(&pt(160_000, 123_456_789), &pt(100_000, 0)).unwrap();
    assert_eq!(
        (r.cpu_nanocores, r.window.to_string()),
        (2_057_613, "1m0s".into())
    );
    assert_eq!(
        rate(&pt(115_000, 1), &pt(100_000, 2)),
        Err(RateError::CpuDecreased)
    );
    let mut older = pt(100_000, 0);
    older.start_time = Timestamp(2 * S);
    assert_eq!(
        rate(&pt(115_000, 1), &older),
        Err(RateError::StartTimeDecreased)
    );
}

#[test]
fn node_needs_two_points_and_moves_last_to_prev() {
    let mut s = storage();
    let batch = |t, cpu| Batch {
        nodes: vec![("node-a".into(), pt(t, cpu))],
        pods: vec![],
    };
    s.store(&batch(100_000, 5_000_000_000));
    assert!(s.node("node-a").is_none());
    s.store(&batch(115_012, 7_809_000_000));
    let r = s.node("node-a").unwrap().unwrap();
    assert_eq!(
        (r.cpu_nanocores, r.window.to_string(), r.timestamp),
        (187_116_973, "15.012s".into(), Timestamp(115_012_000_000))
    );
    // The same point again keeps the previous one.
    s.store(&batch(115_012, 7_809_000_000));
    assert_eq!(s.node("node-a").unwrap().unwrap(), r);
    // CPU 0 or memory 0: the point is dropped, and so is the node's history.
    s.store(&batch(130_000, 0));
    assert!(s.node("node-a").is_none());
    assert!(s.nodes().is_empty());
}

#[test]
fn counter_reset_is_skipped_then_recovers() {
    let mut s = storage();
    let batch = |t, cpu| Batch {
        nodes: vec![("n".into(), pt(t, cpu))],
        pods: vec![],
    };
    s.store(&batch(100_000, 9_000));
    s.store(&batch(115_000, 3_000));
    assert_eq!(s.node("n"), Some(Err(RateError::CpuDecreased)));
    s.store(&batch(130_000, 18_000));
    assert_eq!(s.node("n").unwrap().unwrap().cpu_nanocores, 1_000);
}

#[test]
fn pods_need_every_container_and_take_the_earliest() {
    let mut s = storage();
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod(
            "api",
            &[
                ("api", pt(100_000, 5_000_000_000)),
                ("side", pt(101_000, 1_000_000)),
            ],
        )],
    });
    assert!(s.pod("shop", "api").is_none());
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod(
            "api",
            &[
                ("api", pt(115_004, 5_123_456_780)),
                ("side", pt(116_000, 2_000_000)),
            ],
        )],
    });
    let r = s.pod("shop", "api").unwrap();
    assert_eq!(
        (r.timestamp, r.window.to_string()),
        (Timestamp(115_004_000_000), "15.004s".into())
    );
    let cpus: Vec<_> = r
        .containers
        .iter()
        .map(|(n, r)| (n.as_str(), r.cpu_nanocores))
        .collect();
    assert_eq!(cpus, [("api", 8_228_257), ("side", 66_666)]);
    // A new container without history hides the whole pod.
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod(
            "api",
            &[
                ("api", pt(130_000, 5_200_000_000)),
                ("side", pt(131_000, 3_000_000)),
                ("new", pt(130_000, 1)),
            ],
        )],
    });
    assert!(s.pod("shop", "api").is_none());
    // A container with memory 0 drops the pod from the batch, forgetting it.
    let mut zero = pt(145_000, 9);
    zero.memory = 0;
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod(
            "api",
            &[("api", pt(145_000, 5_300_000_000)), ("new", zero)],
        )],
    });
    assert!(s.pods().is_empty());
}

#[test]
fn restart_resets_history_and_fresh_containers_get_a_synthetic_point() {
    let mut s = storage();
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod("api", &[("api", pt(100_000, 5_000_000_000))])],
    });
    // Restarted at t=110 s (start time ≥ last timestamp 100 s), sampled at t=130 s: older
    // than the 15 s resolution, so no synthetic point and no history.
    let mut restarted = pt(130_000, 1_000_000);
    restarted.start_time = Timestamp(110 * S);
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod("api", &[("api", restarted)])],
    });
    assert!(s.pod("shop", "api").is_none());
    // A container started 12 s before its first sample: prev = (start time, CPU 0).
    let mut fresh = pt(142_000, 600_000_000);
    fresh.start_time = Timestamp(130 * S);
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod("web", &[("web", fresh)])],
    });
    let r = s.pod("shop", "web").unwrap();
    assert_eq!(
        (r.window.to_string(), r.containers[0].1.cpu_nanocores),
        ("12s".into(), 50_000_000)
    );
    // Started 5 s before: too fresh for the shortcut.
    fresh.start_time = Timestamp(137 * S);
    s.store(&Batch {
        nodes: vec![],
        pods: vec![pod("web2", &[("web", fresh)])],
    });
    assert!(s.pod("shop", "web2").is_none());
}

fn any_point() -> impl Strategy<Value = Point> {
    (any::<i64>(), any::<i64>(), any::<u64>(), any::<u64>()).prop_map(|(s, t, cpu_ns, memory)| {
        Point {
            start_time: Timestamp(s),
            timestamp: Timestamp(t),
            cpu_ns,
            memory,
        }
    })
}

proptest! {
    /// Any points, any order: a rate or an error, never a panic (no overflow either).
    #[test]
    fn rate_is_total(last in any_point(), prev in any_point()) {
        if let Ok(r) = rate(&last, &prev) {
            prop_assert!(r.window.as_nanos() > 0);
            prop_assert_eq!(r.memory, last.memory);
        }
    }

    /// Storage over random batches of one node and one pod never panics.
    #[test]
    fn storage_is_total(points in proptest::collection::vec((any_point(), any_point()), 0..20)) {
        let mut s = storage();
        for (n, c) in points {
            s.store(&Batch { nodes: vec![("n".into(), n)], pods: vec![pod("p", &[("c", c)])] });
            let _ = (s.nodes(), s.pods());
        }
    }
}
