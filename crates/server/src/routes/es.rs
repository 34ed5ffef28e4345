//! Elasticsearch compatibility (spec §10): `GET|HEAD /`, `POST|PUT /_bulk`,
//! `POST|PUT /<index>/_bulk`, and the stubs Filebeat, Vector and Logstash call, also under
//! the prefix `/es`. Every answer carries `X-Elastic-Product: Elasticsearch`, except
//! `GET /` from a browser (`Accept: text/html`), which is sent to the web UI at `/ui/`.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use kelp_model::{StreamEntries, Timestamp};
use kelp_wire::bulk::{self, BulkItem, EsInfo, ItemOutcome};
use kelp_wire::ContentEncoding;

use crate::error::{ApiError, ES_PRODUCT_HEADER};
use crate::ingest::ingest;
use crate::metrics::Protocol;
use crate::routes::{blocking, header_str, read_body};
use crate::state::AppState;

/// The Elasticsearch routes, at the root and under `/es`.
pub fn routes() -> Router<AppState> {
    let r = || {
        Router::new()
            .route("/", get(root).head(head))
            .route("/_bulk", post(bulk_root).put(bulk_root))
            .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
            .route("/_cluster/health", get(health))
            .route("/_license", get(license))
            .route("/_index_template/{*rest}", any(stub))
            .route("/_ilm/policy/{*rest}", any(stub))
            .route("/_ingest/pipeline/{*rest}", any(stub))
            .route("/_nodes", any(stub))
            .route("/_nodes/{*rest}", any(stub))
    };
    r().nest("/es", r())
}

fn es(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        HeaderName::from_static(ES_PRODUCT_HEADER),
        HeaderValue::from_static(bulk::PRODUCT_HEADER.1),
    );
    resp
}

fn info(st: &AppState) -> EsInfo {
    let c = &st.config.elasticsearch;
    EsInfo {
        cluster_name: c.cluster_name.clone(),
        version: c.version.clone(),
        ..EsInfo::default()
    }
}

/// Elasticsearch's info document; a browser (`Accept: text/html`) is sent to the web UI.
async fn root(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if kelp_ui::wants_html(&headers) {
        return kelp_ui::to_ui();
    }
    es(StatusCode::OK, bulk::root_info(&info(&st)))
}

async fn head() -> Response {
    es(StatusCode::OK, Vec::new())
}

async fn health(State(st): State<AppState>) -> Response {
    es(
        StatusCode::OK,
        bulk::cluster_health(&st.config.elasticsearch.cluster_name),
    )
}

async fn license() -> Response {
    es(StatusCode::OK, bulk::license())
}

async fn stub(method: Method) -> Response {
    match method {
        Method::PUT | Method::POST => es(StatusCode::OK, bulk::acknowledged()),
        Method::HEAD => es(StatusCode::OK, Vec::new()),
        _ => es(StatusCode::OK, bulk::empty_object()),
    }
}

async fn bulk_root(
    State(st): State<AppState>,
    RawQuery(_q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    bulk_request(st, None, headers, body)
        .await
        .unwrap_or_else(ApiError::into_es_response)
}

async fn bulk_index(
    State(st): State<AppState>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    bulk_request(st, Some(index), headers, body)
        .await
        .unwrap_or_else(ApiError::into_es_response)
}

/// Parses, appends what parsed, and answers per item; a failed append fails every item
/// that was to be stored, with the error's status (429/5xx are retried by every client).
async fn bulk_request(
    st: AppState,
    index: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let began = Instant::now();
    let tenant = st.tenant(&headers)?;
    let body = read_body(body, st.config.max_body_bytes).await?;
    let ce = header_str(&headers, header::CONTENT_ENCODING);
    let max = st.config.max_decompressed_bytes;
    let mapping = st.config.elasticsearch.mapping.clone();
    let max_line = st.config.limits.max_line_bytes;
    let parsed = blocking(move || {
        let enc = ContentEncoding::parse(ce.as_deref())?;
        let raw = kelp_wire::compress::decode_content_encoding(enc, &body, max)?;
        let mut req = bulk::parse_bulk(&raw, index.as_deref(), &mapping, Timestamp::now())?;
        let streams = keep_valid(&mut req.items, &req.streams, max_line);
        Ok((req.items, streams))
    })
    .await;
    let (mut items, streams) = match parsed {
        Ok(p) => p,
        Err(e) => {
            st.metrics.ingest_request(Protocol::Elasticsearch, false);
            return Err(e);
        }
    };
    if let Err(e) = ingest(&st, Protocol::Elasticsearch, tenant, move || Ok(streams)).await {
        let (status, reason) = e.status_and_message();
        for item in items
            .iter_mut()
            .filter(|i| matches!(i.outcome, ItemOutcome::Accepted { .. }))
        {
            item.fail(status.as_u16(), e.es_type(), reason.clone());
        }
    }
    let took = began.elapsed().as_millis() as u64;
    Ok(es(StatusCode::OK, bulk::bulk_response(took, &items)))
}

/// Fails items whose line is over the limit (as the store would reject them) and returns
/// the streams of the items left.
fn keep_valid(
    items: &mut [BulkItem],
    streams: &[StreamEntries],
    max_line: usize,
) -> Vec<StreamEntries> {
    let mut out: Vec<StreamEntries> = streams
        .iter()
        .map(|s| StreamEntries {
            labels: s.labels.clone(),
            entries: Vec::new(),
        })
        .collect();
    for item in items {
        let ItemOutcome::Accepted { stream, entry } = item.outcome else {
            continue;
        };
        let Some(e) = streams.get(stream).and_then(|s| s.entries.get(entry)) else {
            continue;
        };
        if e.line.len() > max_line {
            let reason = format!(
                "max entry size '{max_line}' bytes exceeded for stream '{}' while adding an entry with length '{}' bytes",
                streams[stream].labels,
                e.line.len()
            );
            item.fail(400, "illegal_argument_exception", reason);
        } else {
            out[stream].entries.push(e.clone());
        }
    }
    out.retain(|s| !s.entries.is_empty());
    out
}
