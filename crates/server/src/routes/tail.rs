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
}

impl Tail {
    fn parse(
        access: &Access,
        q: Option<&str>,
        headers: &HeaderMap,
        max_regex_bytes: usize,
    ) -> Result<Self, ApiError> {
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
                        regex::bytes::RegexBuilder::new(t)
                            .size_limit(max_regex_bytes)
                            .build()
                            .map_err(|e| {
                                ApiError::bad(format!("invalid line filter regex {t:?}: {e}"))
                            })?,
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
            matchers: matchers(&log.selector, max_regex_bytes)?,
            tests,
            delay: Duration::from_secs(delay),
            limit: p.limit()?,
            start: p.time(
                "start",
                Timestamp::from_unix_nanos(now.as_unix_nanos() - 3_600_000_000_000),
            )?,
            categorize: categorize(headers),
            query,
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
    let t = Tail::parse(
        &access,
        q.as_deref(),
        &headers,
        st.config.limits.max_regex_bytes,
    )?;
    st.engine()?;
    // A browser that sent its token as a subprotocol also offers this one, and needs one
    // chosen; the token's own is never echoed.
    Ok(ws
        .protocols([crate::auth::TAIL_PROTOCOL])
        .on_upgrade(move |socket| run(st, t, socket)))
}

/// Entries waiting to be sent, and what overflowed.
#[derive(Default)]
struct Buffer {
    pending: VecDeque<(Instant, Labels, Entry)>,
    dropped: Vec<DroppedEntry>,
    dropped_total: u64,
}

async fn run(st: AppState, t: Tail, mut socket: WebSocket) {
    st.metrics.tail_clients(1);
    let t = Arc::new(t);
    let buffer = Arc::new(Mutex::new(Buffer::default()));
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
                        if b.pending.len() >= cap {
                            b.dropped_total += 1;
                            if b.dropped.len() < MAX_DROPPED_LISTED {
                                b.dropped.push(DroppedEntry {
                                    labels: s.labels.clone(),
                                    timestamp: e.timestamp,
                                });
                            }
                        } else {
                            b.pending.push_back((now, s.labels.clone(), e.clone()));
                        }
                    }
                }
            }
        })
    };
    let result = serve(&st, &t, &buffer, &mut socket, first).await;
    feeder.abort();
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

/// The look-back frame: the newest `limit` entries since `start`, oldest first.
async fn lookback(st: &AppState, t: &Arc<Tail>) -> Result<TailMessage, String> {
    let engine = st.engine().map_err(|e| e.to_string())?.clone();
    let t2 = t.clone();
    let resp = st
        .query_pool
        .read(move || {
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
