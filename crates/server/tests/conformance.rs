//! Request/response shapes of the spec, per endpoint, over a real socket.

use crate::support::{enc, now_ns, push_json, TestServer, JSON};

#[test]
fn ready_metrics_buildinfo() {
    let s = TestServer::start("");
    let r = s.get("/ready");
    assert_eq!((r.status, r.text().as_str()), (200, "ready\n"));
    let r = s.get("/loki/api/v1/status/buildinfo");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], "3.5.0");
    let r = s.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(r.text().contains("kelp_ready 1\n"), "{}", r.text());
}

#[test]
fn ready_is_503_before_recovery() {
    use tower::ServiceExt;
    let config = kelp_server::ServerConfig::from_yaml("", []).unwrap();
    let state = kelp_server::AppState::new(config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = |state: &kelp_server::AppState, path: &str| {
        let req = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        rt.block_on(kelp_server::app(state.clone()).oneshot(req))
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(status(&state, "/ready"), 503);
    assert_eq!(status(&state, "/loki/api/v1/labels"), 503);
    let dir = tempfile::tempdir().unwrap();
    let store = kelp_store::Store::open(kelp_store::StoreConfig::new(dir.path())).unwrap();
    state.set_store(std::sync::Arc::new(store));
    assert_eq!(status(&state, "/ready"), 200);
    assert_eq!(status(&state, "/loki/api/v1/labels"), 200);
}

#[test]
fn push_then_metadata_and_queries() {
    let s = TestServer::start("");
    let t0 = now_ns() - 10_000_000_000;
    let body = push_json(
        r#"{"app":"checkout","env":"prod"}"#,
        t0,
        &["order 1 created", "order 1 paid", "order 2 error"],
    );
    let r = s.req("POST", "/loki/api/v1/push", &[JSON], &body);
    assert_eq!((r.status, r.body.len()), (204, 0), "{}", r.text());

    let r = s.get("/loki/api/v1/labels");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.text(),
        "{\"status\":\"success\",\"data\":[\"app\",\"env\",\"service_name\"]}\n"
    );
    let r = s.get("/loki/api/v1/label/service_name/values");
    assert_eq!(r.json()["data"], serde_json::json!(["checkout"]));
    let r = s.get(&format!(
        "/loki/api/v1/series?match[]={}",
        enc(r#"{app="checkout"}"#)
    ));
    assert_eq!(r.json()["data"][0]["env"], "prod");
    let r = s.req(
        "POST",
        "/loki/api/v1/series",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("match[]={}", enc("{env=\"prod\"}")).as_bytes(),
    );
    assert_eq!(r.json()["data"].as_array().unwrap().len(), 1);
    let r = s.get(&format!(
        "/loki/api/v1/index/stats?query={}",
        enc(r#"{app="checkout"}"#)
    ));
    assert_eq!(r.json()["entries"], 3);
    assert!(r.json().get("status").is_none());
    let r = s.get(&format!(
        "/loki/api/v1/index/volume?query={}",
        enc(r#"{app="checkout"}"#)
    ));
    assert_eq!(r.json()["data"]["resultType"], "vector");
    assert_eq!(r.json()["data"]["result"][0]["metric"]["app"], "checkout");

    let q = enc(r#"{app="checkout"} |= "order""#);
    let r = s.get(&format!("/loki/api/v1/query_range?query={q}&limit=2"));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["data"]["resultType"], "streams");
    let values = j["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0][1], "order 2 error"); // backward: newest first
    assert!(j["data"]["stats"]["summary"].is_object());

    let r = s.req(
        "GET",
        &format!("/loki/api/v1/query_range?query={q}&direction=forward"),
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
        b"",
    );
    let j = r.json();
    assert_eq!(
        j["data"]["encodingFlags"],
        serde_json::json!(["categorize-labels"])
    );
    assert_eq!(
        j["data"]["result"][0]["values"][0][2],
        serde_json::json!({})
    );

    let m = enc(r#"sum(count_over_time({app="checkout"}[1h]))"#);
    let r = s.get(&format!("/loki/api/v1/query_range?query={m}&step=60"));
    assert_eq!(r.json()["data"]["resultType"], "matrix", "{}", r.text());
    let r = s.get(&format!(
        "/loki/api/v1/query?query={}&time=4000000000",
        enc("vector(1)+vector(1)")
    ));
    // Grafana's health check; `time=4000000000` has 10 characters, so §1.3 reads it as
    // seconds (the spec's §11 example shows `4`): only the value is checked.
    assert!(
        r.text().starts_with(
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":["#
        ),
        "{}",
        r.text()
    );
    assert_eq!(r.json()["data"]["result"][0]["value"][1], "2");
}

#[test]
fn query_errors_are_plain_text() {
    let s = TestServer::start("");
    let cases = [
        (
            format!("/loki/api/v1/query_range?query={}", enc("{app=")),
            400,
            "parse error",
        ),
        (
            format!("/loki/api/v1/query?query={}", enc(r#"{app="x"}"#)),
            400,
            "log queries are not supported as an instant query type",
        ),
        (
            format!(
                "/loki/api/v1/query_range?query={}&limit=0",
                enc(r#"{app="x"}"#)
            ),
            400,
            "limit must be a positive value",
        ),
        (
            format!(
                "/loki/api/v1/query_range?query={}&limit=6000",
                enc(r#"{app="x"}"#)
            ),
            400,
            "max entries limit per query exceeded",
        ),
        (
            format!(
                "/loki/api/v1/query_range?query={}&start=10&end=5",
                enc(r#"{app="x"}"#)
            ),
            400,
            "end timestamp must not be before or equal to start time",
        ),
        (
            format!(
                "/loki/api/v1/query_range?query={}&direction=up",
                enc(r#"{app="x"}"#)
            ),
            400,
            "invalid direction 'up'",
        ),
        (
            "/loki/api/v1/query_range".to_owned(),
            400,
            "query parameter is required",
        ),
    ];
    for (path, status, text) in cases {
        let r = s.get(&path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(text), "{path}: {}", r.text());
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[test]
fn tenancy_with_auth_enabled() {
    let s = TestServer::start("auth_enabled: true");
    let r = s.get("/loki/api/v1/labels");
    assert_eq!((r.status, r.text().as_str()), (401, "no org id"));
    let body = push_json(r#"{"app":"a"}"#, now_ns() - 1_000_000_000, &["x"]);
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON, ("X-Scope-OrgID", "team-a")],
        &body,
    );
    assert_eq!(r.status, 204);
    let r = s.req(
        "GET",
        "/loki/api/v1/labels",
        &[("X-Scope-OrgID", "team-b")],
        b"",
    );
    assert_eq!(r.json()["data"], serde_json::json!([]));
    let r = s.req(
        "GET",
        "/loki/api/v1/labels",
        &[("X-Scope-OrgID", "team-a")],
        b"",
    );
    assert_eq!(r.json()["data"], serde_json::json!(["app", "service_name"]));
}

#[test]
fn elasticsearch_endpoints() {
    let s = TestServer::start("");
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-elastic-product"), Some("Elasticsearch"));
    assert_eq!(r.json()["version"]["number"], "8.17.0");
    assert_eq!(s.req("HEAD", "/", &[], b"").status, 200);
    assert_eq!(s.get("/_cluster/health").json()["status"], "green");
    assert_eq!(s.get("/_license").status, 200);
    assert_eq!(
        s.req("PUT", "/_index_template/filebeat", &[JSON], b"{}")
            .json()["acknowledged"],
        true
    );
    assert_eq!(s.get("/es/_ilm/policy/x").status, 200);
    let long = "x".repeat(300 << 10);
    let body = format!(
        "{{\"create\":{{\"_index\":\"fluent-bit\"}}}}\n{{\"log\":\"hello es\",\"kubernetes\":{{\"pod_name\":\"api-0\"}}}}\n\
         {{\"index\":{{}}}}\n{{\"message\":\"{long}\"}}\n{{\"delete\":{{\"_index\":\"a\",\"_id\":\"1\"}}}}\n"
    );
    let r = s.req(
        "POST",
        "/logs/_bulk",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    let t = r.text();
    assert!(t.contains(r#""errors":true,"items":["#), "{t}");
    let j = r.json();
    assert_eq!(j["items"][0]["create"]["status"], 201);
    assert_eq!(j["items"][1]["index"]["status"], 400);
    assert_eq!(j["items"][2]["delete"]["status"], 400);
    let r = s.get(&format!(
        "/loki/api/v1/query_range?query={}",
        enc(r#"{pod="api-0"}"#)
    ));
    assert_eq!(r.json()["data"]["result"][0]["values"][0][1], "hello es");
    let r = s.req("POST", "/_bulk", &[], b"not json\n");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "illegal_argument_exception");
}

#[test]
fn otlp_json_and_protobuf() {
    let s = TestServer::start("");
    let t = now_ns() - 1_000_000_000;
    let body = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{t}","body":{{"stringValue":"otlp line"}}}}]}}]}}]}}"#
    );
    let r = s.req("POST", "/otlp/v1/logs", &[JSON], body.as_bytes());
    assert_eq!((r.status, r.text().as_str()), (200, "{}"));
    let r = s.req(
        "POST",
        "/otlp/v1/logs",
        &[("Content-Type", "application/x-protobuf")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    let r = s.get(&format!(
        "/loki/api/v1/query_range?query={}",
        enc(r#"{service_name="svc"}"#)
    ));
    assert_eq!(r.json()["data"]["result"][0]["values"][0][1], "otlp line");
}
