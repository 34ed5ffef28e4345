//! Live tail across replicas (issue #11; `routes/tail.rs`): a client tailing one replica
//! gets the lines pushed to every replica, the look-back of every replica included.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

use crate::replicas::{replicas, Replica};
use crate::support::{enc, now_ns, push_json, JSON};

fn push(r: &Replica, t: i64, line: &str) {
    let resp = r.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &push_json(r#"{"app":"t"}"#, t, &[line]),
    );
    assert_eq!(resp.status, 204, "{}", resp.text());
}

#[test]
fn a_tail_on_one_replica_gets_every_replicas_lines() {
    let rs = replicas(3, "{}");
    // Before the tail opens: one line on replica 1, for the look-back.
    push(&rs[1], now_ns() - 1_000_000_000, "before on 1");
    let url = format!(
        "ws://{}/loki/api/v1/tail?query={}&limit=10",
        rs[0].addr,
        enc(r#"{app="t"} != "skip""#)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got = rt.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        // The replica opens its peers' tails: give them a moment before pushing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (i, r) in rs.iter().enumerate() {
            let addr = r.addr;
            let (a, b) = (format!("live on {i}"), format!("skip on {i}"));
            tokio::task::spawn_blocking(move || {
                let body = push_json(r#"{"app":"t"}"#, now_ns(), &[&a, &b]);
                let resp =
                    crate::support::request(addr, "POST", "/loki/api/v1/push", &[JSON], &body);
                assert_eq!(resp.status, 204);
            })
            .await
            .unwrap();
        }
        let want: BTreeSet<String> = ["before on 1", "live on 0", "live on 1", "live on 2"]
            .map(String::from)
            .into();
        let mut got = BTreeSet::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while got != want {
                let t = match ws.next().await {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let j: serde_json::Value = serde_json::from_str(&t).unwrap();
                for s in j["streams"].as_array().unwrap() {
                    assert_eq!(s["stream"]["app"], "t");
                    for v in s["values"].as_array().unwrap() {
                        got.insert(v[1].as_str().unwrap().to_owned());
                    }
                }
            }
        })
        .await;
        got
    });
    assert_eq!(
        got,
        ["before on 1", "live on 0", "live on 1", "live on 2"]
            .map(String::from)
            .into()
    );
}
