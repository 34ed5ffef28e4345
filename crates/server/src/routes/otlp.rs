//! OTLP/HTTP logs (spec §2.7): `POST /otlp/v1/logs`, protobuf or JSON, answered in the
//! request's encoding.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use kelp_model::Timestamp;
use kelp_wire::{otlp, ContentEncoding};

use crate::error::ApiError;
use crate::ingest::ingest;
use crate::metrics::Protocol;
use crate::routes::{header_str, read_body};
use crate::state::AppState;

/// The OTLP route.
pub fn routes() -> Router<AppState> {
    Router::new().route("/otlp/v1/logs", post(logs))
}

async fn logs(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = st.tenant(&headers)?;
    let body = read_body(body, st.config.max_body_bytes).await?;
    let ct = header_str(&headers, header::CONTENT_TYPE);
    let ce = header_str(&headers, header::CONTENT_ENCODING);
    let json = otlp::is_json(ct.as_deref());
    let max = st.config.max_decompressed_bytes;
    let done = ingest(&st, Protocol::Otlp, tenant, move || {
        let enc = ContentEncoding::parse(ce.as_deref())?;
        let raw = kelp_wire::compress::decode_content_encoding(enc, &body, max)?;
        Ok(otlp::decode_logs(ct.as_deref(), &raw, Timestamp::now())?)
    })
    .await?;
    let o = done.outcome;
    let rejected = (o.too_old + o.too_long + o.too_new) as i64;
    let message = o.rejection().unwrap_or_default();
    let (ct, body) = if json {
        (
            "application/json",
            otlp::export_response_json(rejected, &message),
        )
    } else {
        (
            "application/x-protobuf",
            otlp::export_response_protobuf(rejected, &message),
        )
    };
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response())
}
