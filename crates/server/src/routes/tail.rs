//! Live tail, `GET /loki/api/v1/tail` (spec §5): a WebSocket fed from the ingest path.
//!
//! Parameters are checked before the upgrade (400). The first frame holds the look-back
//! (`start`, `limit`) from the store; then a task takes every stored batch from the
//! broadcast channel, keeps the entries whose stream matches the selector and whose line
//! passes the query's line filters (`|=`, `!=`, `|~`, `!~`; later pipeline stages are not
//! applied to live entries), and buffers at most `limits.tail_buffer_entries` of them. The
//! socket loop sends the buffer every 50 ms (after `delay_for`), so entries reach the
//! client well within 250 ms of their append; what overflows a slow client's buffer is
//! reported in `dropped_entries`. A ping goes out every second.
//!
//! With replicas (`peers.rs`), every other replica's lines reach this client too: the
//! replica opens a tail on each peer (with [`crate::peers::LOCAL_HEADER`], the caller's
//! tenant and scope, categorized labels) and puts what arrives into the same buffer; a
//! peer that goes away is asked again every 2 s, from the time it was lost, for as long
//! as the client stays.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use kelp_logql::ast::{Expr, LineFilterOp, LineFilterValue, Stage};
use kelp_model::{Entry, Labels, TenantId, Timestamp};
use kelp_query::{Direction, RangeParams};
use kelp_store::LabelMatcher;
use kelp_wire::response::{DroppedEntry, LogStream, LogValue, TailMessage};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Access;
use crate::error::ApiError;
use crate::params::{matchers, Params};
use crate::routes::blocking;
use crate::routes::query::{categorize, to_wire};
use crate::state::AppState;

/// How often buffered entries are sent.
const SEND_EVERY: Duration = Duration::from_millis(50);
/// Most dropped entries listed in one frame.
const MAX_DROPPED_LISTED: usize = 1000;

/// The tail route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/loki/api/v1/tail", get(tail))
}

/// A line filter applied to live entries.
enum LineTest {
    Contains(Vec<u8>, bool),
    Regex(regex::bytes::Regex, bool),
}

/// What a tail client asked for.
struct Tail {
    tenant: TenantId,
    query: String,
    matchers: Vec<LabelMatcher>,
    tests: Vec<LineTest>,
    delay: Duration,
    limit: usize,
    start: Timestamp,
    categorize: bool,
    /// The request's query string, asked of the peers.
    raw: String,
}

impl Tail {
    fn parse(access: &Access, q: Option<&str>, headers: &HeaderMap) -> Result<Self, ApiError> {
        let tenant = access.tenant.clone();
        let p = Params::new(q, headers, b"");
        // Scoped: the selector that feeds live entries and the look-back query both
        // carry the namespace matcher.
        let query = access.scope_query(p.query()?)?;
        let Expr::Log(log) = kelp_logql::parse(&query).map_err(|e| ApiError::bad(e.to_string()))?
        else {
            return Err(ApiError::bad("tail requires a log query"));
        };
        let mut tests = Vec::new();
        for stage in &log.pipeline {
            let Stage::LineFilter(f) = stage else { break };
            for v in &f.values {
                let LineFilterValue::Text(t) = v else {
                    continue;
                };
                let neg = f.op.is_negative();
                match f.op {
                    LineFilterOp::Contains | LineFilterOp::NotContains => {
                        tests.push(LineTest::Contains(t.as_bytes().to_vec(), neg))
                    }
                    LineFilterOp::Match | LineFilterOp::NotMatch => tests.push(LineTest::Regex(
                        regex::bytes::Regex::new(t).map_err(|e| ApiError::bad(e.to_string()))?,
                        neg,
                    )),
                    _ => {}
                }
            }
        }
        let delay = match p.get("delay_for") {
            None => 0,
            Some(v) => v
                .parse::<u64>()
                .map_err(|_| ApiError::bad(format!("cannot parse {v:?} to a valid delay_for")))?,
        };
        if delay > 5 {
            return Err(ApiError::bad("delay_for can't be greater than 5"));
        }
        let now = Timestamp::now();
        Ok(Self {
            tenant,
            matchers: matchers(&log.selector)?,
            tests,
            delay: Duration::from_secs(delay),
            limit: p.limit()?,
            start: p.time(
                "start",
                Timestamp::from_unix_nanos(now.as_unix_nanos() - 3_600_000_000_000),
            )?,
            categorize: categorize(headers),
            query,
            raw: q.unwrap_or_default().to_owned(),
        })
    }

    fn line_passes(&self, line: &[u8]) -> bool {
        self.tests.iter().all(|t| match t {
            LineTest::Contains(s, neg) => contains(line, s) != *neg,
            LineTest::Regex(re, neg) => re.is_match(line) != *neg,
        })
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

async fn tail(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let t = Tail::parse(&access, q.as_deref(), &headers)?;
    st.engine()?;
    let peers = st
        .peers
        .clone()
        .filter(|p| !p.is_alone() && !crate::peers::is_local(&headers))
        .map(|p| (p, access.clone()));
    // A browser that sent its token as a subprotocol also offers this one, and needs one
    // chosen; the token's own is never echoed.
    Ok(ws
        .protocols([crate::auth::TAIL_PROTOCOL])
        .on_upgrade(move |socket| run(st, t, socket, peers)))
}

/// Entries waiting to be sent, and what overflowed.
#[derive(Default)]
struct Buffer {
    pending: VecDeque<(Instant, Labels, Entry)>,
    dropped: Vec<DroppedEntry>,
    dropped_total: u64,
}

async fn run(
    st: AppState,
    t: Tail,
    mut socket: WebSocket,
    peers: Option<(Arc<crate::peers::Peers>, Access)>,
) {
    st.metrics.tail_clients(1);
    let t = Arc::new(t);
    let buffer = Arc::new(Mutex::new(Buffer::default()));
    let cap = st.config.limits.tail_buffer_entries;
    let peer_feeds = match peers {
        Some((peers, access)) => peer_tails(peers, &access, t.clone(), buffer.clone(), cap).await,
        None => Vec::new(),
    };
    let mut rx = st.tail.subscribe();
    let first = lookback(&st, &t).await;
    let feeder = {
        let (t, buffer, st) = (t.clone(), buffer.clone(), st.clone());
        tokio::spawn(async move {
            let cap = st.config.limits.tail_buffer_entries;
            loop {
                let batch = match rx.recv().await {
                    Ok(b) => b,
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!(batches = n, "tail client lagged behind the ingest fan-out");
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                if batch.tenant != t.tenant {
                    continue;
                }
                let now = Instant::now();
                let mut b = buffer.lock().unwrap_or_else(|e| e.into_inner());
                for s in batch.streams.iter() {
                    if !t.matchers.iter().all(|m| m.matches(&s.labels)) {
                        continue;
                    }
                    for e in s.entries.iter().filter(|e| t.line_passes(&e.line)) {
                        b.add(cap, now, &s.labels, e);
                    }
                }
            }
        })
    };
    let result = serve(&st, &t, &buffer, &mut socket, first).await;
    feeder.abort();
    for f in peer_feeds {
        f.abort();
    }
    if let Err(reason) = result {
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: 1011,
                reason: reason.into(),
            })))
            .await;
    }
    st.metrics.tail_clients(-1);
}

impl Buffer {
    /// Queues `e` of the stream `labels`, or counts it dropped past `cap`.
    fn add(&mut self, cap: usize, now: Instant, labels: &Labels, e: &Entry) {
        if self.pending.len() >= cap {
            self.drop_one(labels, e.timestamp);
        } else {
            self.pending.push_back((now, labels.clone(), e.clone()));
        }
    }

    fn drop_one(&mut self, labels: &Labels, timestamp: Timestamp) {
        self.dropped_total += 1;
        if self.dropped.len() < MAX_DROPPED_LISTED {
            self.dropped.push(DroppedEntry {
                labels: labels.clone(),
                timestamp,
            });
        }
    }
}

/// How long a lost peer tail waits before it is opened again.
const PEER_RETRY: Duration = Duration::from_secs(2);

/// One task per peer replica feeding `buffer` with that peer's own live entries (see
/// the module's documentation).
async fn peer_tails(
    peers: Arc<crate::peers::Peers>,
    access: &Access,
    t: Arc<Tail>,
    buffer: Arc<Mutex<Buffer>>,
    cap: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    let headers = Arc::new(peers.request_headers(access));
    peers
        .others()
        .await
        .into_iter()
        .map(|r| {
            let url = r.url().to_owned();
            let (peers, headers, t, buffer) =
                (peers.clone(), headers.clone(), t.clone(), buffer.clone());
            tokio::spawn(async move {
                let mut query = t.raw.clone();
                let mut said = false;
                loop {
                    let lost = peer_tail(&url, &query, &headers, &t, &buffer, cap).await;
                    peers.count(&url, lost.is_err());
                    if let Err(e) = lost {
                        if !said {
                            tracing::warn!(peer = %url, error = %e, "tail of a replica lost; trying again");
                            said = true;
                        }
                    }
                    // Again from now: what was sent before is not sent twice.
                    query = with_start(&t.raw, Timestamp::now());
                    tokio::time::sleep(PEER_RETRY).await;
                }
            })
        })
        .collect()
}

/// `raw` with its `start` replaced by `at` (nanoseconds).
fn with_start(raw: &str, at: Timestamp) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        if k != "start" {
            out.append_pair(&k, &v);
        }
    }
    out.append_pair("start", &at.as_unix_nanos().to_string());
    out.finish()
}

/// One peer's tail until it ends: its frames' entries into `buffer`.
async fn peer_tail(
    url: &str,
    query: &str,
    headers: &[(String, String)],
    t: &Tail,
    buffer: &Mutex<Buffer>,
    cap: usize,
) -> Result<(), String> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as WsMessage;
    let ws = if let Some(rest) = url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else {
        format!("ws://{}", url.strip_prefix("http://").unwrap_or(url))
    };
    let mut req = format!("{}/loki/api/v1/tail?{query}", ws.trim_end_matches('/'))
        .into_client_request()
        .map_err(|e| e.to_string())?;
    for (name, value) in headers {
        let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            axum::http::HeaderValue::from_str(value),
        ) else {
            continue;
        };
        req.headers_mut().insert(n, v);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(req)
        .await
        .map_err(|e| e.to_string())?;
    while let Some(msg) = socket.next().await {
        match msg.map_err(|e| e.to_string())? {
            WsMessage::Text(text) => {
                let frame =
                    peer_frame(text.as_bytes()).ok_or("a frame that is not a tail message")?;
                let now = Instant::now();
                let mut b = buffer.lock().unwrap_or_else(|e| e.into_inner());
                for (labels, e) in &frame.entries {
                    // The peer applied the same selector and filters.
                    if t.matchers.iter().all(|m| m.matches(labels)) {
                        b.add(cap, now, labels, e);
                    }
                }
                for (labels, ts) in &frame.dropped {
                    b.drop_one(labels, *ts);
                }
            }
            WsMessage::Close(_) => return Err("the replica closed the tail".into()),
            _ => {}
        }
    }
    Err("the replica's tail ended".into())
}

/// A peer's tail frame (categorized labels): its entries with their stream's labels, and
/// its dropped entries.
#[derive(Default)]
struct PeerFrame {
    entries: Vec<(Labels, Entry)>,
    dropped: Vec<(Labels, Timestamp)>,
}

fn peer_frame(body: &[u8]) -> Option<PeerFrame> {
    fn labels(v: &serde_json::Value) -> Option<Labels> {
        let m = v.as_object()?;
        Labels::from_pairs(
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        )
        .ok()
    }
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut out = PeerFrame::default();
    for s in v["streams"].as_array().into_iter().flatten() {
        let stream = labels(&s["stream"])?;
        for e in s["values"].as_array().into_iter().flatten() {
            let ts = e[0].as_str()?.parse::<i64>().ok()?;
            let metadata = e[2]["structuredMetadata"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| {
                            Some(kelp_model::LabelPair {
                                name: k.clone(),
                                value: v.as_str()?.to_owned(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.entries.push((
                stream.clone(),
                Entry {
                    timestamp: Timestamp::from_unix_nanos(ts),
                    line: bytes::Bytes::from(e[1].as_str()?.to_owned()),
                    metadata,
                },
            ));
        }
    }
    for d in v["dropped_entries"].as_array().into_iter().flatten() {
        let ts = d["timestamp"].as_str()?.parse::<i64>().ok()?;
        out.dropped
            .push((labels(&d["labels"])?, Timestamp::from_unix_nanos(ts)));
    }
    Some(out)
}

/// The look-back frame: the newest `limit` entries since `start`, oldest first.
async fn lookback(st: &AppState, t: &Arc<Tail>) -> Result<TailMessage, String> {
    let engine = st.engine().map_err(|e| e.to_string())?.clone();
    let t2 = t.clone();
    let resp = blocking(move || {
        let p = RangeParams {
            start: t2.start,
            end: Timestamp::now(),
            step: Duration::from_secs(1),
            interval: Duration::ZERO,
            direction: Direction::Forward,
            limit: t2.limit.min(engine.limits().max_entries_per_query),
            cancel: None,
        };
        Ok(engine.query_range(&t2.tenant, t2.query.as_str(), &p)?)
    })
    .await
    .map_err(|e| e.to_string())?;
    let streams = match to_wire(resp, t.categorize, Direction::Forward).result {
        kelp_wire::response::QueryResult::Streams(s) => s,
        _ => Vec::new(),
    };
    Ok(TailMessage {
        streams,
        dropped_entries: Vec::new(),
        categorize_labels: t.categorize,
    })
}

async fn serve(
    st: &AppState,
    t: &Tail,
    buffer: &Mutex<Buffer>,
    socket: &mut WebSocket,
    first: Result<TailMessage, String>,
) -> Result<(), String> {
    let first = first?;
    if !first.streams.is_empty() {
        send(socket, &first).await?;
    }
    let mut shutdown = st.shutdown_signal();
    let mut tick = tokio::time::interval(SEND_EVERY);
    let mut ping = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let msg = take(buffer, t);
                if let Some(msg) = msg {
                    st.metrics.tail_dropped(msg.dropped_entries.len() as u64);
                    send(socket, &msg).await?;
                }
            }
            _ = ping.tick() => {
                socket.send(Message::Ping(Default::default())).await.map_err(|e| e.to_string())?;
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(()),
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }))).await;
                return Ok(());
            }
        }
    }
}

async fn send(socket: &mut WebSocket, msg: &TailMessage) -> Result<(), String> {
    socket
        .send(Message::Text(msg.to_json().into()))
        .await
        .map_err(|e| e.to_string())
}

/// The entries due (older than `delay_for`) and the dropped list, as one frame.
fn take(buffer: &Mutex<Buffer>, t: &Tail) -> Option<TailMessage> {
    let mut b = buffer.lock().unwrap_or_else(|e| e.into_inner());
    let now = Instant::now();
    let mut due = Vec::new();
    while b
        .pending
        .front()
        .is_some_and(|(at, _, _)| now.duration_since(*at) >= t.delay)
    {
        if let Some((_, labels, e)) = b.pending.pop_front() {
            due.push((labels, e));
        }
    }
    let dropped = std::mem::take(&mut b.dropped);
    drop(b);
    if due.is_empty() && dropped.is_empty() {
        return None;
    }
    let mut streams: BTreeMap<Labels, Vec<LogValue>> = BTreeMap::new();
    for (labels, e) in due {
        let (labels, value) = if t.categorize {
            (labels, LogValue::from_entry(&e))
        } else {
            let all = Labels::from_pairs(
                labels
                    .iter()
                    .map(|p| (p.name.as_str(), p.value.as_str()))
                    .chain(
                        e.metadata
                            .iter()
                            .map(|p| (p.name.as_str(), p.value.as_str())),
                    ),
            )
            .unwrap_or(labels);
            (
                all,
                LogValue {
                    timestamp: e.timestamp,
                    line: e.line,
                    ..LogValue::default()
                },
            )
        };
        streams.entry(labels).or_default().push(value);
    }
    Some(TailMessage {
        streams: streams
            .into_iter()
            .map(|(labels, values)| LogStream { labels, values })
            .collect(),
        dropped_entries: dropped,
        categorize_labels: t.categorize,
    })
}
