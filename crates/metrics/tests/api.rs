//! metrics.k8s.io JSON against the spec's examples, and quantity round trips.

use kelp_metrics::api::{List, NodeMetrics, PodMetrics};
use kelp_metrics::quantity;
use kelp_metrics::rate::{PodRate, Rate};
use kelp_model::{ByteSize, GoDuration, Timestamp};
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s.as_bytes()).unwrap()
}

#[test]
fn pod_metrics_is_byte_compatible() {
    let rate = PodRate {
        namespace: "shop".into(),
        name: "api-7d9c5b6f4d-x2x9q".into(),
        // Sub-second parts are cut, as Go's RFC 3339 formatting does.
        timestamp: Timestamp(ts("2024-06-01T12:00:15Z").0 + 999_000_000),
        window: GoDuration::from_nanos(15_004_000_000),
        containers: vec![(
            "api".into(),
            Rate {
                cpu_nanocores: 8_230_452,
                memory: 48_263_168,
                timestamp: ts("2024-06-01T12:00:15Z"),
                window: GoDuration(0),
            },
        )],
    };
    let labels = [("app".to_owned(), "api".to_owned())].into();
    let pod = PodMetrics::new(&rate, labels, ts("2024-06-01T12:00:20Z"));
    let want = r#"{"kind":"PodMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"api-7d9c5b6f4d-x2x9q","namespace":"shop","creationTimestamp":"2024-06-01T12:00:20Z","labels":{"app":"api"}},"timestamp":"2024-06-01T12:00:15Z","window":"15.004s","containers":[{"name":"api","usage":{"cpu":"8230452n","memory":"47132Ki"}}]}"#;
    assert_eq!(serde_json::to_string(&pod).unwrap(), want);
    let back: PodMetrics = serde_json::from_str(want).unwrap();
    assert_eq!(back, pod);

    let list = serde_json::to_string(&List::pods(vec![])).unwrap();
    assert_eq!(
        list,
        r#"{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[]}"#
    );
    let node = NodeMetrics::new(
        "node-b",
        Default::default(),
        ts("2024-06-01T12:00:20Z"),
        &Rate {
            cpu_nanocores: 1_000_000_000,
            memory: 1 << 30,
            timestamp: ts("2024-06-01T12:00:14Z"),
            window: GoDuration::from_secs(60),
        },
    );
    let list = serde_json::to_string(&List::nodes(vec![node])).unwrap();
    assert_eq!(
        list,
        r#"{"kind":"NodeMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":[{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"node-b","creationTimestamp":"2024-06-01T12:00:20Z"},"timestamp":"2024-06-01T12:00:14Z","window":"1m0s","usage":{"cpu":"1","memory":"1Gi"}}]}"#
    );
}

proptest! {
    #[test]
    fn cpu_round_trips(n in any::<u64>()) {
        let s = quantity::cpu(n);
        prop_assert_eq!(quantity::parse_cpu(&s), Some(n), "{}", s);
        // Canonical: no shorter exact form, i.e. the mantissa has no factor 1000 left.
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        prop_assert!(n == 0 || s.ends_with('E') || !digits.ends_with("000"), "{}", s);
    }

    #[test]
    fn memory_round_trips(b in any::<u64>()) {
        let s = quantity::memory(b);
        prop_assert_eq!(quantity::parse_memory(&s), Some(b), "{}", s);
        // The model's Kubernetes quantity parser reads it back too.
        if b >= 1024 {
            prop_assert_eq!(ByteSize::parse(&s).map(|v| v.as_u64()).ok(), Some(b), "{}", s);
        }
    }

    #[test]
    fn memory_multiples_of_1024(m in 1u64..1 << 40, shift in 0u32..3) {
        let b = m << (10 * (shift + 1));
        let s = quantity::memory(b);
        prop_assert!(s.ends_with('i'), "{}", s);
    }
}
