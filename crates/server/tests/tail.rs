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
