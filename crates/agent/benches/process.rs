//! The agent's per-line cost from file to entries: CRI decode, partial-line join and the
//! processing step, with no rule (the default), a `java` multi-line rule, and the `java`
//! rule plus `email` and `bearer_token` redaction.
//!
//! The input is a ~4 MB CRI file written from the repository's corpus (kafka log4j with
//! stack traces, JBoss server log with stack traces, Apache access lines), each line one
//! `F` record, 10 % on stderr. Throughput is file bytes.
//!
//! Run: `cargo bench -p kelp-agent --bench process`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kelp_agent::multiline::{MultilineKind, MultilineRule};
use kelp_agent::policy::{BuiltinRedaction, RedactRule};
use kelp_agent::AgentConfig;

const TARGET_BYTES: usize = 4 << 20;

fn input(dir: &Path) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus");
    let texts: Vec<String> = [
        "elastic-kafka-log4j/kafka0/logs/server.log.2016-12-19-20",
        "jboss-eap-java-multiline/realworld.append",
        "elastic-apache-access/apache_logs",
    ]
    .iter()
    .map(|p| std::fs::read_to_string(root.join(p)).expect("the corpus"))
    .collect();
    let mut out = Vec::with_capacity(TARGET_BYTES + 64 * 1024);
    let mut n = 0u64;
    'fill: loop {
        for t in &texts {
            for line in t.lines() {
                let stream = if n % 10 == 9 { "stderr" } else { "stdout" };
                let (s, ns) = (1_700_000_000 + n / 1000, (n % 1000) * 1_000_000);
                out.extend_from_slice(
                    format!("{}.{ns:09}Z {stream} F {line}\n", rfc3339_secs(s)).as_bytes(),
                );
                n += 1;
                if out.len() >= TARGET_BYTES {
                    break 'fill;
                }
            }
        }
    }
    let path = dir.join("0.log");
    std::fs::write(&path, out).unwrap();
    path
}

/// `YYYY-MM-DDTHH:MM:SS` of Unix seconds (Howard Hinnant's `civil_from_days`).
fn rfc3339_secs(t: u64) -> String {
    let (days, s) = ((t / 86_400) as i64, t % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let live = input(dir.path());
    let size = std::fs::metadata(&live).unwrap().len();
    let plain = AgentConfig::new(dir.path().into(), dir.path().into(), "u".into(), "n".into());
    let mut java = plain.clone();
    java.multiline.rules.push(MultilineRule {
        namespace: None,
        pod: None,
        container: None,
        kind: MultilineKind::Java,
        start: None,
    });
    let mut redact = java.clone();
    for b in [BuiltinRedaction::Email, BuiltinRedaction::BearerToken] {
        redact.policy.redact.push(RedactRule {
            builtin: Some(b),
            ..Default::default()
        });
    }
    let mut g = c.benchmark_group("agent");
    g.throughput(Throughput::Bytes(size));
    for (name, config) in [("plain", &plain), ("java", &java), ("java_redact", &redact)] {
        g.bench_function(name, |b| {
            b.iter(|| black_box(kelp_agent::bench::drain(&live, config).unwrap()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
