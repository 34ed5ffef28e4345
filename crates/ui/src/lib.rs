//! # kelp-ui
//!
//! Kelp's web UI, served by `kelp server` under `/ui/`: **Explore** (LogQL editor with
//! completion and error positions, time range, volume histogram, virtualised log lines,
//! metric charts), **Live tail** (the tail WebSocket), **Pods** (namespaces → pods →
//! containers and their restarts, deleted pods included) and **Resources** (`top`-style
//! tables with sparklines and charts). It is plain HTML, CSS and JavaScript modules under
//! `assets/`, embedded with `include_bytes!`: `cargo build` needs no Node.js, and the
//! browser talks only to the server's public HTTP API.
//!
//! - [`routes`]: the `Router` to merge into the server's: `/ui/` and the view paths under
//!   it answer the page (a single-page app), `/ui/assets/<file>` the files, with their
//!   content type, an `ETag` and `Cache-Control: no-cache` (revalidated, answered 304).
//!   Nothing outside `/ui` is routed, so the API and its 404s stay untouched.
//! - [`wants_html`] and [`to_ui`]: `GET /` belongs to Elasticsearch clients (a JSON
//!   document); the server's handler sends browsers (`Accept: text/html`) to `/ui/`.
//!
//! ```
//! let app: axum::Router = axum::Router::new().merge(kelp_ui::routes());
//! # drop(app);
//! let mut headers = axum::http::HeaderMap::new();
//! headers.insert("accept", "text/html,application/xhtml+xml;q=0.9".parse().unwrap());
//! assert!(kelp_ui::wants_html(&headers));
//! ```

mod assets;

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

pub use assets::{Asset, ASSETS};

/// Where the UI lives.
pub const BASE: &str = "/ui/";

/// The views a browser may open directly (history navigation); anything else under `/ui/`
/// that is not an asset is 404, so a mistyped asset name is not answered with the page.
pub const VIEWS: &[&str] = &["explore", "tail", "pods", "resources"];

/// The UI's routes, for any router state. Each view path is its own static route: a
/// parameter (`/ui/{view}`) would also catch `POST /ui/_bulk`, Elasticsearch's bulk
/// route for an index named `ui`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new()
        .route("/ui", get(|| async { Redirect::permanent(BASE) }))
        .route("/ui/", get(page))
        .route("/ui/assets/{*file}", get(asset));
    for v in VIEWS {
        r = r.route(&format!("/ui/{v}"), get(page));
    }
    r
}

/// Whether a request comes from a browser navigating: its `Accept` names `text/html`.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/html"))
        })
}

/// The answer that sends a browser from `/` to the UI (303, so a HEAD or POST is not
/// repeated).
pub fn to_ui() -> Response {
    Redirect::to(BASE).into_response()
}

async fn page(headers: HeaderMap) -> Response {
    serve(&assets::INDEX, &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.path == file) {
        Some(a) => serve(a, &headers),
        None => not_found(),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "404 page not found\n",
    )
        .into_response()
}

/// The file with its type and validator, or 304 when the browser's copy is current.
fn serve(a: &Asset, headers: &HeaderMap) -> Response {
    let etag = a.etag();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, a.content_type)], a.bytes).into_response()
    };
    let h = resp.headers_mut();
    // The ETag is hex digits in quotes, always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests;
