//! Bearer tokens, tenants and namespace scoping over real sockets (issue #9, point 1):
//! every read endpoint, asked with tenant A's tokens, never shows tenant B's data, and a
//! token scoped to `ns-a` never shows `ns-b` — live tail over a real WebSocket included.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{enc, now_ns, push_json, request, Resp, TestServer, JSON};

const W_A: &str = "write-a-0123456789abcdef";
const R_A: &str = "read-a-0123456789abcdef";
const R_A_NS: &str = "read-a-nsa-0123456789abcdef";
const RW_B: &str = "rw-b-0123456789abcdef";
const R_NEW: &str = "added-later-0123456789abcdef";

fn tokens_yaml() -> String {
    format!(
        "- {{token: {W_A}, tenant: a, rights: [write], name: agent-a}}\n\
         - {{token: {R_A}, tenant: a, rights: [read]}}\n\
         - {{token: {R_A_NS}, tenant: a, rights: [read], namespaces: [ns-a]}}\n\
         - {{token: {RW_B}, tenant: b, rights: [read, write]}}\n"
    )
}

/// A server with the token file, and tenant A's and B's data in `ns-a` and `ns-b`.
fn server() -> (TestServer, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.yaml");
    std::fs::write(&file, tokens_yaml()).unwrap();
    let s = TestServer::start(&format!("auth: {{tokens_file: {}}}", file.display()));
    let t = now_ns() - 60_000_000_000;
    for (token, labels, line) in [
        (
            W_A,
            r#"{"app":"x","namespace":"ns-a","pod":"pod-a1","container":"c"}"#,
            "line-a-nsa",
        ),
        (
            W_A,
            r#"{"app":"x","namespace":"ns-b","pod":"pod-a2","container":"c"}"#,
            "line-a-nsb",
        ),
        (
            RW_B,
            r#"{"app":"x","namespace":"ns-a","pod":"pod-b3","container":"c"}"#,
            "line-b",
        ),
    ] {
        let r = push(&s, token, labels, t, line);
        assert_eq!(r.status, 204, "{}", r.text());
    }
    (s, file, dir)
}

fn push(s: &TestServer, token: &str, labels: &str, t: i64, line: &str) -> Resp {
    let auth = format!("Bearer {token}");
    s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON, ("Authorization", &auth)],
        &push_json(labels, t, &[line]),
    )
}

fn get(s: &TestServer, token: &str, path: &str, extra: &[(&str, &str)]) -> Resp {
    let auth = format!("Bearer {token}");
    let mut h = vec![("Authorization", auth.as_str())];
    h.extend_from_slice(extra);
    s.req("GET", path, &h, b"")
}

/// Every read endpoint, with what a full read of tenant A must show.
fn read_endpoints() -> Vec<(String, &'static str)> {
    let since = "&since=2h";
    let q = |path: &str, query: &str| format!("{path}?query={}{since}", enc(query));
    vec![
        (q("/loki/api/v1/query_range", r#"{app="x"}"#), "line-a-nsa"),
        (
            q(
                "/loki/api/v1/query_range",
                r#"{namespace=~"ns-.*"} |= "line""#,
            ),
            "line-a-nsa",
        ),
        (
            q(
                "/loki/api/v1/query_range",
                r#"sum by (namespace, pod) (count_over_time({app="x"}[1h]))"#,
            ),
            "pod-a1",
        ),
        (
            q(
                "/loki/api/v1/query_range",
                r#"count_over_time({app="x"}[1h]) + on (pod) group_left count_over_time({pod=~"pod-.*"}[1h])"#,
            ),
            "pod-a1",
        ),
        (
            q(
                "/loki/api/v1/query",
                r#"topk(10, sum by (namespace, pod) (bytes_over_time({container="c"}[2h])))"#,
            ),
            "pod-a1",
        ),
        ("/loki/api/v1/labels?since=2h".to_string(), "namespace"),
        (
            "/loki/api/v1/label/namespace/values?since=2h".to_string(),
            "ns-a",
        ),
        (
            "/loki/api/v1/label/pod/values?since=2h".to_string(),
            "pod-a1",
        ),
        (
            format!(
                "/loki/api/v1/label/pod/values?query={}{since}",
                enc(r#"{namespace="ns-b"}"#)
            ),
            "",
        ),
        ("/loki/api/v1/series?since=2h".to_string(), "pod-a1"),
        (
            format!("/loki/api/v1/series?match[]={}{since}", enc(r#"{app="x"}"#)),
            "pod-a1",
        ),
        (
            q("/loki/api/v1/index/volume", r#"{app="x"}"#) + "&targetLabels=namespace,pod",
            "pod-a1",
        ),
        (
            q("/loki/api/v1/index/volume_range", r#"{app="x"}"#)
                + "&targetLabels=namespace,pod&step=600",
            "pod-a1",
        ),
        ("/kelp/api/v1/pods".to_string(), "pod-a1"),
        ("/kelp/api/v1/pods?namespace=ns-b".to_string(), ""),
    ]
}

#[test]
fn no_read_endpoint_shows_another_tenant_or_namespace() {
    let (s, _file, _dir) = server();
    // (token, strings that must never appear, whether ns-b of tenant A is visible)
    let cases = [
        (R_A, &["line-b", "pod-b3"][..], true),
        (
            R_A_NS,
            &["line-b", "pod-b3", "ns-b", "pod-a2", "line-a-nsb"][..],
            false,
        ),
    ];
    for (token, never, sees_ns_b) in cases {
        for (path, must) in read_endpoints() {
            let r = get(&s, token, &path, &[]);
            assert_eq!(r.status, 200, "{path}: {}", r.text());
            let body = r.text();
            for n in never {
                assert!(!body.contains(n), "{token} {path} shows {n}: {body}");
            }
            assert!(body.contains(must), "{token} {path} lacks {must}: {body}");
            if sees_ns_b && path.contains("pod/values?since") {
                assert!(body.contains("pod-a2"), "{path}: {body}");
            }
        }
        // index/stats: numbers, compared with the explicit selector.
        let stats = |tok: &str, sel: &str| {
            let r = get(
                &s,
                tok,
                &format!("/loki/api/v1/index/stats?query={}&since=2h", enc(sel)),
                &[],
            );
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()
        };
        let want = if sees_ns_b {
            r#"{app="x"}"#
        } else {
            r#"{app="x", namespace="ns-a"}"#
        };
        assert_eq!(stats(token, r#"{app="x"}"#), stats(R_A, want), "{token}");
    }
    // Tenant B sees its own line only.
    let r = get(
        &s,
        RW_B,
        &format!(
            "/loki/api/v1/query_range?query={}&since=2h",
            enc(r#"{app="x"}"#)
        ),
        &[],
    );
    assert!(
        r.text().contains("line-b") && !r.text().contains("line-a"),
        "{}",
        r.text()
    );
}

#[test]
fn rights_and_tenants_are_enforced() {
    let (s, file, _dir) = server();
    let query = format!("/loki/api/v1/query_range?query={}", enc(r#"{app="x"}"#));
    let labels = r#"{"app":"x"}"#;
    let t = now_ns();
    // (what, status)
    let cases: Vec<(&str, Resp, u16)> = vec![
        ("query without a token", s.get(&query), 401),
        (
            "push without a token",
            s.req(
                "POST",
                "/loki/api/v1/push",
                &[JSON],
                &push_json(labels, t, &["x"]),
            ),
            401,
        ),
        (
            "an unknown token",
            get(&s, "not-a-token-0123456789", &query, &[]),
            401,
        ),
        (
            "a Basic header",
            s.req("GET", &query, &[("Authorization", "Basic YTpi")], b""),
            401,
        ),
        ("a read token pushing", push(&s, R_A, labels, t, "x"), 403),
        ("a write token querying", get(&s, W_A, &query, &[]), 403),
        (
            "another tenant's org id",
            get(&s, R_A, &query, &[("X-Scope-OrgID", "b")]),
            403,
        ),
        (
            "its own org id",
            get(&s, R_A, &query, &[("X-Scope-OrgID", "a")]),
            200,
        ),
        (
            "a scoped token on a route that cannot be scoped",
            get(&s, R_A_NS, "/no/such/route", &[]),
            403,
        ),
        (
            "a full read token on an unknown route",
            get(&s, R_A, "/no/such/route", &[]),
            404,
        ),
        (
            "a write token on ES's handshake",
            get(&s, W_A, "/", &[]),
            200,
        ),
        ("/ready without a token", s.get("/ready"), 200),
        ("/metrics without a token", s.get("/metrics"), 200),
        (
            "buildinfo without a token",
            s.get("/loki/api/v1/status/buildinfo"),
            200,
        ),
        (
            "the native push with a read token",
            s.req(
                "POST",
                "/kelp/api/v1/push",
                &[("Authorization", &format!("Bearer {R_A}"))],
                b"",
            ),
            403,
        ),
        (
            "OTLP with a read token",
            s.req(
                "POST",
                "/otlp/v1/logs",
                &[("Authorization", &format!("Bearer {R_A}"))],
                b"",
            ),
            403,
        ),
        (
            "_bulk with a read token",
            s.req(
                "POST",
                "/_bulk",
                &[("Authorization", &format!("Bearer {R_A}"))],
                b"",
            ),
            403,
        ),
        (
            "the inventory with a read token",
            s.req(
                "POST",
                "/kelp/api/v1/inventory",
                &[("Authorization", &format!("Bearer {R_A}"))],
                b"{}",
            ),
            403,
        ),
    ];
    for (what, r, want) in cases {
        assert_eq!(r.status, want, "{what}: {}", r.text());
    }
    let r = s.get(&query);
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"kelp\""));
    assert_eq!(
        r.text(),
        "missing bearer token: send \"Authorization: Bearer <token>\""
    );
    assert_eq!(
        get(&s, W_A, &query, &[]).text(),
        "token agent-a does not grant read access"
    );

    // The file is re-read when it changes: a token added later works, a bad file keeps
    // the tokens in force.
    assert_eq!(get(&s, R_NEW, &query, &[]).status, 401);
    std::fs::write(&file, "- {broken").unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(get(&s, R_A, &query, &[]).status, 200);
    std::fs::write(
        &file,
        tokens_yaml() + &format!("- {{token: {R_NEW}, tenant: a, rights: [read]}}\n"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(&s, R_NEW, &query, &[]).status != 200 {
        assert!(Instant::now() < deadline, "the new token never worked");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tail_with_a_scoped_token_sees_only_its_namespace() {
    let (s, _file, _dir) = server();
    let addr = s.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let url = format!(
            "ws://{addr}/loki/api/v1/tail?query={}&start={}",
            enc(r#"{app="x"}"#),
            now_ns() - 3_600_000_000_000
        );
        // Without a token the upgrade is refused.
        let err = tokio_tungstenite::connect_async(url.clone())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Authorization", format!("Bearer {R_A_NS}").parse().unwrap());
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        let mut seen = String::new();
        let mut next = async || loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no tail frame: {other:?}"),
            }
        };
        // The first frame is the look-back; the subscription is in place once it came.
        let first = next().await;
        assert!(first.contains("line-a-nsa"), "{first}");
        seen.push_str(&first);
        // Lines the token must not see go first; the one it may see last: once that one
        // arrived, any leaked one would have arrived before it (one ordered fan-out).
        let live = tokio::task::spawn_blocking(move || {
            let t = now_ns();
            for (token, labels, line) in [
                (
                    RW_B,
                    r#"{"app":"x","namespace":"ns-a","pod":"pod-b3"}"#,
                    "live-b",
                ),
                (
                    W_A,
                    r#"{"app":"x","namespace":"ns-b","pod":"pod-a2"}"#,
                    "live-a-nsb",
                ),
                (
                    W_A,
                    r#"{"app":"x","namespace":"ns-a","pod":"pod-a1"}"#,
                    "live-a-nsa",
                ),
            ] {
                let auth = format!("Bearer {token}");
                let r = request(
                    addr,
                    "POST",
                    "/loki/api/v1/push",
                    &[JSON, ("Authorization", &auth)],
                    &push_json(labels, t, &[line]),
                );
                assert_eq!(r.status, 204, "{}", r.text());
            }
        });
        live.await.unwrap();
        while !seen.contains("live-a-nsa") {
            seen.push_str(&next().await);
        }
        for n in [
            "line-b",
            "live-b",
            "line-a-nsb",
            "live-a-nsb",
            "ns-b",
            "pod-b3",
        ] {
            assert!(!seen.contains(n), "tail showed {n}: {seen}");
        }
    });
}

/// Issue #9, point 1 (the UI): a browser cannot set `Authorization` on a WebSocket, so the
/// token may come as a `base64url.bearer.authorization.k8s.io.<token>` subprotocol (as the
/// Kubernetes API server reads it); the server selects `kelp.tail.v1`, never the token's
/// own, and the scope applies as with the header.
#[test]
fn tail_takes_the_token_from_a_websocket_subprotocol() {
    use base64::Engine as _;
    let (s, _file, _dir) = server();
    let addr = s.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let url = format!(
            "ws://{addr}/loki/api/v1/tail?query={}&start={}",
            enc(r#"{app="x"}"#),
            now_ns() - 3_600_000_000_000
        );
        let with = |protocols: String| {
            let mut req = url.clone().into_client_request().unwrap();
            req.headers_mut()
                .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
            req
        };
        let b64 = |t: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t);
        for bad in [
            format!(
                "kelp.tail.v1, base64url.bearer.authorization.k8s.io.{}",
                b64("not-a-known-token-at-all")
            ),
            "kelp.tail.v1, base64url.bearer.authorization.k8s.io.***".to_string(),
            "kelp.tail.v1".to_string(),
        ] {
            let err = tokio_tungstenite::connect_async(with(bad.clone()))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("401"), "{bad}: {err}");
        }
        let (mut ws, resp) = tokio_tungstenite::connect_async(with(format!(
            "kelp.tail.v1, base64url.bearer.authorization.k8s.io.{}",
            b64(R_A_NS)
        )))
        .await
        .unwrap();
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some("kelp.tail.v1")
        );
        let first = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => break t.to_string(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no tail frame: {other:?}"),
            }
        };
        assert!(first.contains("line-a-nsa"), "{first}");
        assert!(!first.contains("ns-b"), "{first}");
        assert!(!first.contains("line-b"), "{first}");
    });
}
