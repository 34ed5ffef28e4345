//! Live tail over a real WebSocket: entries pushed after connecting arrive quickly.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{enc, now_ns, push_json, request, TestServer, JSON};

#[test]
fn tail_receives_new_matching_entries() {
    let s = TestServer::start("");
    let addr = s.addr;
    let bad = s.get(&format!(
        "/loki/api/v1/tail?query={}&delay_for=6",
        enc(r#"{app="t"}"#)
    ));
    assert_eq!(bad.status, 400);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let url = format!(
            "ws://{addr}/loki/api/v1/tail?query={}",
            enc(r#"{app="t"} |= "keep""#)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        // Give the server a moment to subscribe before pushing.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let body = push_json(r#"{"app":"t"}"#, now_ns(), &["drop me", "keep me"]);
        let pushed = Instant::now();
        let status = tokio::task::spawn_blocking(move || {
            request(addr, "POST", "/loki/api/v1/push", &[JSON], &body).status
        })
        .await
        .unwrap();
        assert_eq!(status, 204);
        let msg = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match ws.next().await.unwrap().unwrap() {
                    Message::Text(t) => return t.to_string(),
                    _ => continue,
                }
            }
        })
        .await
        .expect("a tail frame");
        let latency = pushed.elapsed();
        let j: serde_json::Value = serde_json::from_str(&msg).unwrap();
        let values = j["streams"][0]["values"].as_array().unwrap();
        assert_eq!(values.len(), 1, "{msg}");
        assert_eq!(values[0][1], "keep me");
        assert_eq!(j["streams"][0]["stream"]["app"], "t");
        assert!(j.get("dropped_entries").is_none());
        assert!(latency < Duration::from_secs(1), "took {latency:?}");
    });
}

#[test]
fn a_client_that_cannot_keep_up_gets_dropped_entries() {
    let s = TestServer::start("limits: {tail_buffer_entries: 2}");
    let addr = s.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let url = format!("ws://{addr}/loki/api/v1/tail?query={}", enc(r#"{app="d"}"#));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // One push of 10 entries reaches the client's buffer of 2 at once.
        let lines: Vec<String> = (0..10).map(|i| format!("burst {i}")).collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let t0 = now_ns();
        let body = push_json(r#"{"app":"d"}"#, t0, &lines);
        let status = tokio::task::spawn_blocking(move || {
            request(addr, "POST", "/loki/api/v1/push", &[JSON], &body).status
        })
        .await
        .unwrap();
        assert_eq!(status, 204);
        let (mut got, mut dropped) = (Vec::new(), Vec::new());
        tokio::time::timeout(Duration::from_secs(5), async {
            while got.len() + dropped.len() < 10 {
                let Message::Text(t) = ws.next().await.unwrap().unwrap() else {
                    continue;
                };
                let j: serde_json::Value = serde_json::from_str(&t).unwrap();
                for s in j["streams"].as_array().unwrap() {
                    for v in s["values"].as_array().unwrap() {
                        got.push(v[1].as_str().unwrap().to_owned());
                    }
                }
                if let Some(d) = j.get("dropped_entries") {
                    dropped.extend(d.as_array().unwrap().iter().cloned());
                }
            }
        })
        .await
        .expect("all 10 entries sent or reported dropped");
        assert_eq!(got, ["burst 0", "burst 1"]);
        assert_eq!(dropped.len(), 8);
        assert_eq!(
            dropped[0]["labels"],
            serde_json::json!({"app": "d", "service_name": "d"})
        );
        assert_eq!(dropped[0]["timestamp"], (t0 + 2000).to_string());
        assert_eq!(dropped[7]["timestamp"], (t0 + 9000).to_string());
    });
}
