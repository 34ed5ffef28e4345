//! `GET /kelp/api/v1/pods` and `POST /kelp/api/v1/inventory` over real sockets: tenants
//! are apart, and pods are read back from flushed segments after a restart, a pod
//! recreated under its name (two UIDs) included.

use serde_json::{json, Value};

use crate::support::{now_ns, TestServer, JSON};

const S: i64 = 1_000_000_000;

/// `(pod, uid, restart, ts, line)` of container `c` in namespace `ns`, as `tenant`.
fn push(s: &TestServer, tenant: &str, rows: &[(&str, &str, u32, i64, &str)]) {
    let streams: Vec<Value> = rows
        .iter()
        .map(|(pod, uid, restart, ts, line)| {
            json!({
                "stream": {"namespace": "ns", "pod": pod, "container": "c", "node": "n1"},
                "values": [[ts.to_string(), line, {"pod_uid": uid, "restart": restart.to_string()}]],
            })
        })
        .collect();
    let body = json!({ "streams": streams }).to_string();
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON, ("X-Scope-OrgID", tenant)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());
}

fn pods(s: &TestServer, tenant: &str) -> Vec<Value> {
    let r = s.req(
        "GET",
        "/kelp/api/v1/pods",
        &[("X-Scope-OrgID", tenant)],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

fn ts(ns: i64) -> String {
    kelp_model::Timestamp::from_unix_nanos(ns).to_rfc3339_fixed()
}

#[test]
fn pods_are_per_tenant_and_read_from_flushed_segments() {
    let cfg = "auth_enabled: true";
    let s = TestServer::start(cfg);
    let t0 = (now_ns() - 3600 * S) / S * S;
    let mut rows = Vec::new();
    let lines: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    for (i, l) in lines.iter().enumerate() {
        let (uid, restart) = if i < 30 {
            ("a", (i / 10) as u32)
        } else {
            ("b", 0)
        };
        rows.push(("db-0", uid, restart, t0 + i as i64 * S, l.as_str()));
    }
    push(&s, "t1", &rows);
    push(&s, "t2", &[("other", "o", 0, t0, "x")]);
    let inv = json!({"node": "n1", "pods": [{"namespace": "ns", "pod": "db-0", "uid": "b"}]});
    let r = s.req(
        "POST",
        "/kelp/api/v1/inventory",
        &[JSON, ("X-Scope-OrgID", "t1")],
        inv.to_string().as_bytes(),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    // Auth on: no tenant, no answer.
    assert_eq!(s.get("/kelp/api/v1/pods").status, 401);
    let r = s.req(
        "POST",
        "/kelp/api/v1/inventory",
        &[JSON],
        inv.to_string().as_bytes(),
    );
    assert_eq!(r.status, 401);

    // The shutdown flushes the store: the restarted server reads segments.
    let s = TestServer::start_in(s.stop(), cfg);
    let got = pods(&s, "t1");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        (&got[0]["uid"], &got[0]["exists"], &got[0]["restarts"]),
        (&json!("a"), &json!(false), &json!(2))
    );
    assert_eq!(
        (&got[0]["first_seen"], &got[0]["last_seen"]),
        (&json!(ts(t0)), &json!(ts(t0 + 29 * S)))
    );
    assert_eq!(
        (&got[1]["uid"], &got[1]["exists"], &got[1]["restarts"]),
        (&json!("b"), &json!(true), &json!(0))
    );
    assert_eq!(
        (&got[1]["first_seen"], &got[1]["last_seen"]),
        (&json!(ts(t0 + 30 * S)), &json!(ts(t0 + 49 * S)))
    );
    // Tenant t2 sees its own pod, and no inventory of t1's.
    let other = pods(&s, "t2");
    assert_eq!(other.len(), 1);
    assert_eq!(
        (&other[0]["pod"], &other[0]["exists"]),
        (&json!("other"), &Value::Null)
    );
}
