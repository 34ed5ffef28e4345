//! The spec's worked example (§1.5), read end to end: path, records, joined lines.

use std::time::Duration;

use kelp_k8s::cri;
use kelp_k8s::join::{Joiner, JoinerConfig, LineEnd};
use kelp_k8s::path::{PodLogPath, Rotation};
use kelp_k8s::Stream;
use kelp_model::Timestamp;

use crate::ts;

#[test]
fn worked_example() {
    let path =
        "/var/log/pods/shop_api-7d9c5b6f4d-x2x9q_0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b/api/0.log";
    let p = PodLogPath::parse_under("/var/log/pods", path).unwrap();
    assert_eq!(
        p,
        PodLogPath {
            namespace: "shop",
            pod: "api-7d9c5b6f4d-x2x9q",
            uid: "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b",
            container: "api",
            restart: 0,
            rotation: Rotation::Live,
        }
    );

    let blob_head = format!("{{\"blob\":\"{}", "A".repeat(16384 - 9));
    let mut file = Vec::new();
    file.extend_from_slice(b"2024-06-01T12:00:00.000000001Z stdout F starting server\n");
    file.extend_from_slice(b"2024-06-01T12:00:00.5Z stderr F warning: no config file\n");
    file.extend_from_slice(format!("2024-06-01T12:00:01.1Z stdout P {blob_head}\n").as_bytes());
    file.extend_from_slice(b"2024-06-01T12:00:01.1000002Z stdout F BBBB\"}\n");
    file.extend_from_slice(b"2024-06-01T12:00:02.2Z stdout F \n");
    file.extend_from_slice(b"2024-06-01T12:00:03.3Z stdout P progress 50%\n");

    let mut j = Joiner::new(JoinerConfig {
        max_line_bytes: 1 << 20,
        partial_timeout: Duration::from_secs(5),
    });
    let now = Timestamp::from_unix_secs(1_717_243_204);
    let mut lines = Vec::new();
    for record in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let r = cri::parse(record).unwrap();
        for l in j.push(r, now) {
            lines.push((l.timestamp, l.stream, l.content.to_vec(), l.end));
        }
    }
    let blob = format!("{blob_head}BBBB\"}}").into_bytes();
    assert_eq!(blob.len(), 16384 + 6);
    assert_eq!(
        lines,
        [
            (
                ts("2024-06-01T12:00:00.000000001Z"),
                Stream::Stdout,
                b"starting server".to_vec(),
                LineEnd::Full
            ),
            (
                ts("2024-06-01T12:00:00.5Z"),
                Stream::Stderr,
                b"warning: no config file".to_vec(),
                LineEnd::Full
            ),
            // The JSON line carries its first fragment's time.
            (
                ts("2024-06-01T12:00:01.1Z"),
                Stream::Stdout,
                blob,
                LineEnd::Full
            ),
            (
                ts("2024-06-01T12:00:02.2Z"),
                Stream::Stdout,
                Vec::new(),
                LineEnd::Full
            ),
        ]
    );
    // `progress 50%` is still pending.
    assert_eq!(j.pending_bytes(), 12);
    assert_eq!(j.expire(now).count(), 0);
    let l: Vec<_> = j
        .expire(Timestamp::from_unix_secs(1_717_243_209))
        .map(|l| (l.content.to_vec(), l.end))
        .collect();
    assert_eq!(l, [(b"progress 50%".to_vec(), LineEnd::TimedOut)]);
}
