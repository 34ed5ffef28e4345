//! The HTTP routes, each family in its own file beside its handlers, and [`app`], which
//! assembles them into one `Router` that tests drive without a socket.

use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::error::ApiError;
use crate::state::AppState;

pub mod es;
pub mod internal;
pub mod labels;
pub mod ops;
pub mod otlp;
pub mod pods;
pub mod push;
pub mod query;
pub mod resources;
pub mod tail;

/// The whole API: Loki's push, query, metadata and tail routes, Kelp's native push, the
/// Elasticsearch and OTLP ingest routes, and the operational endpoints.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(push::routes())
        .merge(query::routes())
        .merge(labels::routes())
        .merge(tail::routes())
        .merge(otlp::routes())
        .merge(ops::routes())
        .merge(es::routes())
        .merge(kelp_ui::routes())
        .merge(pods::routes())
        .merge(resources::routes())
        .merge(internal::routes())
        // Bodies are read with their own limits (`read_body`), answered 413 as Loki does.
        .layer(DefaultBodyLimit::disable())
        // Overload: pushes past the in-flight bound are 503 before their body is read.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::shed_ingest,
        ))
        // A replica with a bucket names itself in every answer (`fallback.rs`).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            name_replica,
        ))
        // Every route, including those merged above later: 401/403 before any handler.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authenticate,
        ))
        .with_state(state)
}

/// Adds [`crate::fallback::REPLICA_HEADER`] to the answer when the store has a bucket.
async fn name_replica(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut out = next.run(req).await;
    let name = st.store().ok().and_then(|s| s.replica());
    if let Some(v) = name.and_then(|n| HeaderValue::from_str(n).ok()) {
        out.headers_mut().insert(crate::fallback::REPLICA_HEADER, v);
    }
    out
}

/// Reads a body of at most `max` bytes; larger is 413.
pub async fn read_body(body: Body, max: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::TooLarge(format!(
                "request body too large: exceeds the limit of {max} bytes"
            ))
        } else {
            ApiError::bad(format!("reading the request body: {e}"))
        }
    })
}

/// A header's value as text.
pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A JSON body (already serialized, with Loki's final newline) with status 200.
pub fn json(body: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// Runs CPU-heavy or blocking work on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("task failed: {e}")))?
}
