#!/usr/bin/env python3
"""Writes the text seed corpora under fuzz/seeds/<target>/ from data in this repository
(corpus excerpts, deploy manifests, examples of the wire formats). Binary seeds (snappy
protobuf, zstd, chunk encodings, journal files) are kept as they were picked from libFuzzer's
own corpora and are not touched here. Run from anywhere: `python3 fuzz/make-seeds.py`."""

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def write(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, payload):
    """A length-delimited protobuf field."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def snappy_literal(data):
    """Snappy block format, literals only (valid for any decoder)."""
    out = bytearray(varint(len(data)))
    for i in range(0, len(data), 60):
        chunk = data[i:i + 60]
        out.append((len(chunk) - 1) << 2)
        out += chunk
    return bytes(out)


def lines(path, n):
    with open(ROOT / path, "rb") as f:
        return [f.readline().rstrip(b"\r\n") for _ in range(n)]


# CRI and docker json-file lines, with real content from the corpus excerpts.
real = lines("corpus/elastic-apache-access/apache_logs", 2) + lines(
    "corpus/otrf-zeek-json/apt29/day1/zeek/combined_zeek.log", 1
) + lines("corpus/kubelet-windows-klog/kubelet.log", 1)
for i, content in enumerate(real):
    write("cri_parse", f"full-{i}", b"2026-11-22T10:00:0%d.123456789Z stdout F " % i + content + b"\n")
    doc = {"log": content.decode("utf-8", "replace") + "\n", "stream": "stderr" if i % 2 else "stdout",
           "time": f"2026-11-22T10:00:0{i}.123456789Z"}
    write("docker_json", f"line-{i}", json.dumps(doc))
write("cri_parse", "partial", "2026-11-22T10:00:00.000000001+02:00 stderr P first half of a long line")
write("cri_parse", "empty-content", "2026-11-22T10:00:00Z stdout F \n")
write("docker_json", "attrs", json.dumps({"log": "hello\n", "stream": "stdout", "time": "2026-11-22T10:00:00Z",
                                          "attrs": {"io.kubernetes.pod.name": "web-0", "tag": "x"}}))
write("docker_json", "escapes", '{"log":"tab\\there \\u00e9\\ud83d\\ude00\\n","stream":"stdout","time":"2026-11-22T10:00:00.5Z"}')

# cri_join: see the target (byte 0: maximum line size; then records).
ops = bytearray([16])
for i, piece in enumerate([b"GET /index.html", b" HTTP/1.1 200", b"short", b"a much longer piece that is cut"]):
    ops += bytes([(i % 2) | (2 if i < 2 else 0) | (1 << 4), len(piece)]) + piece
ops += bytes([0b1100 | (5 << 4)])  # expire after 5 s
write("cri_join", "records", bytes(ops))

# Pod log paths, container log links and rotation stamps.
for i, p in enumerate([
    "kube-system_coredns-5d78c9869d-abcde_0a1b2c3d-1111-2222-3333-444455556666/coredns/0.log",
    "default_web-0_9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff/nginx/3.log.20261122-100000",
    "default_web-0_9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff/nginx/3.log.20261122-100000.gz",
    "web-0_default_nginx-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.log",
    "20261122-100000",
]):
    write("pod_log_path", f"path-{i}", p)

# Loki JSON push bodies.
push = {"streams": [{"stream": {"namespace": "default", "pod": "web-0", "container": "nginx"},
                     "values": [["1763805600000000000", l.decode("utf-8", "replace")] for l in real[:2]]
                     + [["1763805600000000001", "with metadata", {"trace_id": "abc"}]]}]}
write("loki_push", "json", json.dumps(push))
write("loki_push", "json-spaced", json.dumps(push, indent=2))
write("loki_push", "json-escapes", '{"streams":[{"stream":{"a":"\\u00e9"},"values":[["1","\\ud83d\\ude00 \\/ \\" \\\\ \\n"]]}]}')

# Loki protobuf push (snappy): PushRequest{streams: [{labels, entries: [{timestamp, line, metadata}]}]}.
def ts(secs, nanos):
    return varint(1 << 3) + varint(secs) + varint(2 << 3) + varint(nanos)
entries = b"".join(field(2, field(1, ts(1763805600, i)) + field(2, l) + field(3, field(1, b"trace_id") + field(2, b"abc")))
                   for i, l in enumerate(real[:2]))
stream = field(1, b'{namespace="default", pod="web-0"}') + entries
write("loki_push", "protobuf", snappy_literal(field(1, stream)))

# OTLP protobuf: ExportLogsServiceRequest{resource_logs{resource{attributes}, scope_logs{log_records}}}.
def kv(k, v):
    return field(1, k) + field(2, field(1, v))
record = varint(1 << 3 | 1) + (1763805600 * 10**9).to_bytes(8, "little") + field(5, field(1, real[0])) + field(6, kv(b"level", b"info"))
resource = field(1, kv(b"k8s.namespace.name", b"default")) + field(1, kv(b"k8s.pod.name", b"web-0"))
write("otlp_logs", "protobuf", field(1, field(1, resource) + field(2, field(2, record))))

# Elasticsearch _bulk bodies.
bulk = ""
for i, l in enumerate(real[:3]):
    bulk += json.dumps({"index": {"_index": "logs"}}) + "\n"
    bulk += json.dumps({"@timestamp": f"2026-11-22T10:00:0{i}Z", "message": l.decode("utf-8", "replace"),
                        "kubernetes": {"namespace_name": "default", "pod_name": "web-0"}}) + "\n"
bulk += json.dumps({"create": {"_index": "logs", "_id": "1"}}) + "\n" + json.dumps({"log": "x", "time": 1763805600}) + "\n"
write("es_bulk", "bulk", bulk)
write("es_bulk", "delete-and-update", '{"delete":{"_index":"a","_id":"1"}}\n{"update":{"_id":"2"}}\n{"doc":{"a":1}}\n')

# OTLP/JSON logs.
otlp = {"resourceLogs": [{"resource": {"attributes": [
    {"key": "k8s.namespace.name", "value": {"stringValue": "default"}},
    {"key": "k8s.pod.name", "value": {"stringValue": "web-0"}}]},
    "scopeLogs": [{"scope": {"name": "s"}, "logRecords": [
        {"timeUnixNano": "1763805600000000000", "severityText": "INFO",
         "body": {"stringValue": real[0].decode("utf-8", "replace")},
         "attributes": [{"key": "n", "value": {"intValue": "3"}}]},
        {"observedTimeUnixNano": "1763805600000000001", "body": {"kvlistValue": {"values": [
            {"key": "msg", "value": {"stringValue": "structured"}}]}}}]}]}]}
write("otlp_logs", "json", json.dumps(otlp))

# Resource push (JSON form).
write("resource_push", "json", json.dumps({
    "node": "node-1", "collections": [{"seq": 1,
        "node": {"time": 1763805600000000000, "cpu_ns": 250000000, "memory": 1073741824,
                 "capacity": {"cpu_millis": 2000, "memory": 8589934592},
                 "allocatable": {"cpu_millis": 1900, "memory": 8000000000}, "labels": {"zone": "a"}},
        "pods": [{"namespace": "default", "pod": "web-0", "uid": "9f8e7d6c", "labels": {"app": "web"},
                  "time": 1763805600000000000, "cpu_ns": 1000000, "memory": 10485760,
                  "containers": [{"name": "nginx", "time": 1763805600000000000, "start_time": 1763805000000000000,
                                  "cpu_ns": 1000000, "memory": 10485760}]}]}]}))

# LogQL: every query of docs/logql.md's examples (lines in `...` that look like queries).
docs = (ROOT / "docs" / "logql.md").read_text()
queries = sorted({q for q in re.findall(r"`([^`\n]*\{[^`\n]*\}[^`\n]*)`", docs)})
for i, q in enumerate(queries[:60]):
    write("logql_parse", f"doc-{i:02}", q)
write("logql_parse", "metric", 'sum by (namespace) (rate({namespace=~"kube-.*"} |= "error" | json | level="error" [5m])) > 0.1')
write("logql_parse", "topk", 'topk(10, sum by (pod) (sum_over_time({app="web"} | logfmt | unwrap bytes(size) [1h])))')

# line_format / label_format templates.
for i, t in enumerate([
    '{{ .pod }} {{ .msg | upper }}',
    '{{ if eq .level "error" }}E{{ else }}{{ .level | default "info" }}{{ end }}',
    '{{ range $k, $v := fromJson .body }}{{ $k }}={{ $v }} {{ end }}',
    '{{ define "x" }}{{ .a }}{{ end }}{{ template "x" . }}{{ printf "%05d" 3 }}',
    '{{ __line__ | trunc 20 }} {{ __timestamp__ | date "2006-01-02" }}',
]):
    write("logql_template", f"t-{i}", t)

# Multi-line joining (kelp_agent::fuzzing::multiline): byte 0 rule + size, then lines with a control byte.
java = lines("corpus/elastic-kafka-log4j/kafka0/logs/server.log.2016-12-19-20", 30)
for rule in range(4):
    write("multiline_join", f"java-{rule}", bytes([rule | (40 << 2)]) + b"\n".join(b"\x00" + l for l in java))

# Redaction (kelp_agent::fuzzing::redaction): arbitrary records.
write("redaction", "secrets", b"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl user=a.b@example.com card=4111 1111 1111 1111 key=AKIAIOSFODNN7EXAMPLE")
write("redaction", "plain", real[0])

# Configuration: the shipped configs (YAML, NUL, overrides).
for name in ["server-configmap.yaml", "agent-configmap.yaml"]:
    text = (ROOT / "deploy" / "kubernetes" / name).read_text()
    m = re.search(r"\|\n((?:    .*\n|\n)+)", text)
    body = "\n".join(l[4:] for l in m.group(1).splitlines()) if m else text
    write("config", name.replace(".yaml", ""), body + "\0STORE__RETENTION_MAX_AGE_SECS=86400\nAUTH__TOKENS_FILE=/etc/kelp/tokens.yaml\n")
write("config", "tokens", "- token: a-long-random-string-0123\n  tenant: team-a\n  rights: [read, write]\n  namespaces: [ns-a]\n- token_sha256: \"" + "ab" * 32 + "\"\n  tenant: team-b\n  rights: [read]\n")

# series_chunk: byte 0 the sample count, then the chunk; one sample is three varints
# (zigzag time, CPU nanoseconds, memory bytes), see kelp_series::format.
write("series_chunk", "one-sample", bytes([1]) + varint(2 * 1763805600000000000) + varint(250000000) + varint(10485760))

# store_files: patches of the template store's files (see the target); any bytes are a patch.
write("store_files", "flip", bytes([0, 0, 0, 16, 1, 0xff]))
write("store_files", "cut", bytes([1, 0, 0, 0, 64]))
# A real journal file from Debian's systemd-journal-remote (when installed), cut after its
# last object (the preallocated zeros dropped, the header's arena size set to match).
remote = pathlib.Path("/lib/systemd/systemd-journal-remote")
if remote.exists():
    import struct
    import subprocess
    import tempfile
    export = (b"__REALTIME_TIMESTAMP=1763805600000000\n__MONOTONIC_TIMESTAMP=1000\n"
              b"_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=kubelet.service\n_HOSTNAME=node-1\n"
              b"PRIORITY=6\nMESSAGE=" + real[3] + b"\n\n"
              b"__REALTIME_TIMESTAMP=1763805601000000\n__MONOTONIC_TIMESTAMP=2000\n"
              b"_BOOT_ID=0123456789abcdef0123456789abcdef\n_SYSTEMD_UNIT=containerd.service\n_HOSTNAME=node-1\n"
              b"PRIORITY=4\nMESSAGE=time=\"2026-11-22T10:00:01Z\" level=warning msg=\"cleanup\"\n\n")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "seed.journal"
        subprocess.run([str(remote), f"--output={out}", "-"], input=export, check=True, capture_output=True)
        b = bytearray(out.read_bytes())
    header_size = struct.unpack_from("<Q", b, 88)[0]
    tail = struct.unpack_from("<Q", b, 136)[0]
    end = (tail + struct.unpack_from("<Q", b, tail + 8)[0] + 7) // 8 * 8
    struct.pack_into("<Q", b, 96, end - header_size)
    write("journal_file", "two-entries.journal", bytes(b[:end]))
print("seeds written under", SEEDS)
