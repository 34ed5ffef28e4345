//! Operational endpoints (spec §6): `/ready`, `/metrics`, `/loki/api/v1/status/buildinfo`.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use kelp_wire::response::BuildInfo;

use crate::routes::json;
use crate::state::AppState;

/// The Loki version reported by buildinfo, so version-gated clients enable features.
pub const LOKI_VERSION: &str = "3.5.0";

/// The operational routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo))
}

/// 200 `ready` once the store has recovered, 503 with the reason before.
async fn ready(State(st): State<AppState>) -> Response {
    let text = [(header::CONTENT_TYPE, "text/plain; charset=utf-8")];
    match st.store() {
        Ok(_) => (StatusCode::OK, text, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, text, format!("{e}\n")).into_response(),
    }
}

async fn metrics(State(st): State<AppState>) -> Response {
    let mut body = st.metrics.render(st.store_gauges());
    if let Some(p) = &st.peers {
        body.push_str(&p.render());
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn buildinfo() -> Response {
    json(
        BuildInfo {
            version: LOKI_VERSION.into(),
            revision: format!("kelp-{}", env!("CARGO_PKG_VERSION")),
            branch: "main".into(),
            build_user: "kelp".into(),
            build_date: String::new(),
            go_version: "rust".into(),
        }
        .to_json(),
    )
}
