//! Push decoding on the ingest hot path: a ~1 MiB batch as JSON, snappy protobuf and native
//! zstd protobuf. Throughput is reported in decoded (uncompressed body) bytes.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};

fn batch() -> Vec<StreamEntries> {
    let mut streams = Vec::new();
    let mut t = 1_714_557_600_000_000_000i64;
    for s in 0..20 {
        let labels = Labels::from_pairs([
            ("namespace", "shop".to_string()),
            ("pod", format!("api-{s}")),
            ("container", "api".to_string()),
        ])
        .unwrap();
        let entries = (0..400)
            .map(|i| {
                t += 1_000_017;
                let mut e = Entry::new(
                    Timestamp::from_unix_nanos(t),
                    format!("2024-05-01T12:00:00.{i:03}Z INFO request handled method=GET path=/api/v1/orders/{i} status=200 duration_ms={} user=u-{}", i % 97, i % 13),
                );
                if i % 4 == 0 {
                    e.metadata = vec![LabelPair { name: "trace_id".into(), value: format!("{:032x}", t) }];
                }
                e
            })
            .collect();
        streams.push(StreamEntries { labels, entries });
    }
    streams
}

fn bench(c: &mut Criterion) {
    let batch = batch();
    let json = kelp_wire::encode_push_json(&batch);
    let raw = kelp_wire::push::proto::encode_protobuf(&batch);
    let snappy = kelp_wire::encode_push_protobuf(&batch);
    let native = kelp_wire::native::encode(&batch, kelp_wire::native::DEFAULT_LEVEL);
    eprintln!(
        "json {} B, protobuf {} B, snappy {} B, native zstd {} B",
        json.len(),
        raw.len(),
        snappy.len(),
        native.len()
    );
    let mut g = c.benchmark_group("push_decode");
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("json", |b| {
        b.iter(|| kelp_wire::decode_push(Some("application/json"), &json).unwrap())
    });
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("protobuf_snappy", |b| {
        b.iter(|| kelp_wire::decode_push(Some("application/x-protobuf"), &snappy).unwrap())
    });
    g.bench_function("native_zstd", |b| {
        b.iter(|| kelp_wire::native::decode(&native, 64 << 20).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
