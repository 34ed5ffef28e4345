//! `POST /loki/api/v1/push` (spec §2) and Kelp's native push, `POST /kelp/api/v1/push`
//! (Loki's protobuf with `Content-Encoding: zstd`; the Loki route accepts it too).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;

use crate::error::ApiError;
use crate::ingest::ingest;
use crate::metrics::Protocol;
use crate::routes::{header_str, read_body};
use crate::state::AppState;

/// The push routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/loki/api/v1/push", post(loki_push))
        .route("/kelp/api/v1/push", post(native_push))
}

async fn loki_push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    push(st, Protocol::Loki, headers, body).await
}

async fn native_push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    push(st, Protocol::Native, headers, body).await
}

/// Decodes and appends; 204 once durable, 400 with the store's message when some entries
/// were rejected (the others are stored, as Loki does).
async fn push(
    st: AppState,
    protocol: Protocol,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let tenant = st.tenant(&headers)?;
    let body = read_body(body, st.config.max_body_bytes).await?;
    let ct = header_str(&headers, header::CONTENT_TYPE);
    let ce = header_str(&headers, header::CONTENT_ENCODING);
    let max = st.config.max_decompressed_bytes;
    let done = ingest(&st, protocol, tenant, move || {
        Ok(kelp_wire::decode_push_encoded(
            ct.as_deref(),
            ce.as_deref(),
            &body,
            max,
        )?)
    })
    .await?;
    match done.outcome.rejection() {
        Some(message) => Err(ApiError::BadRequest(message)),
        None => Ok(StatusCode::NO_CONTENT),
    }
}
