//! # kelp-server
//!
//! `kelp server`: Kelp's log store behind Loki's HTTP API, so Grafana, logcli, Promtail,
//! Alloy and Fluent Bit work unchanged, plus Elasticsearch `_bulk`, OTLP/HTTP logs, Kelp's
//! native push and live tail. The API is specified in `shared/spec/loki-http-api.md`.
//!
//! - [`ServerConfig`]: the YAML configuration (every key has a default; environment
//!   overrides `KELP_SERVER_<KEY>` and `KELP_SERVER_<SECTION>__<KEY>`).
//! - [`app`]: the `Router` of every route, over an [`AppState`]; tests drive it without a
//!   socket.
//! - [`serve`]: binds nothing itself; given a listener it answers at once (`/ready` is 503
//!   while the store recovers on the blocking pool), and on shutdown stops accepting,
//!   finishes in-flight requests, then flushes and closes the store.
//! - [`ApiError`]: the one place errors become HTTP statuses and plain-text bodies.
//! - [`auth`]: bearer tokens from a file (tenant, rights, namespace-scoped reads), one
//!   middleware over every route; [`tls`]: HTTPS with rustls, mutual TLS, certificates
//!   reloaded on change ([`reload`]).
//! - Every ingest protocol decodes (kelp-wire) and appends through one function on the
//!   blocking pool; the store acknowledges only durable entries, and every stored batch is
//!   broadcast to live-tail clients.
//!
//! ```
//! use std::sync::Arc;
//! use kelp_server::{app, AppState, ServerConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let config = ServerConfig::from_yaml("", []).unwrap();
//! let store = kelp_store::Store::open(kelp_store::StoreConfig::new(dir.path())).unwrap();
//! let router = app(AppState::with_store(config, Arc::new(store)));
//! # drop(router);
//! ```

pub mod auth;
pub mod config;
mod error;
pub mod fallback;
pub mod ingest;
pub mod inventory;
pub mod limits;
pub mod merge;
pub mod metrics;
pub mod params;
pub mod peers;
pub mod reload;
pub mod resources;
pub mod routes;
pub mod state;
pub mod tls;

use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

pub use config::ServerConfig;
pub use error::{ApiError, ConfigError, ServerError};
pub use routes::app;
pub use state::AppState;

/// Serves the API on `listener` until `shutdown` completes, then stops accepting, lets
/// in-flight requests finish (at most `shutdown_timeout_secs`), and flushes and closes
/// the store. The store is opened (WAL replay) on the blocking pool while the server
/// already answers `/ready` with 503.
pub async fn serve(
    config: ServerConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let mut store_config = config.store_config()?;
    store_config.bucket = config.store_bucket()?;
    let tls = tls::TlsFiles::open(&config.tls)?.map(Arc::new);
    let grace = Duration::from_secs(config.shutdown_timeout_secs);
    let tokens = match &config.auth.tokens_file {
        Some(p) => Some(Arc::new(auth::Tokens::open(p)?)),
        None => None,
    };
    let state = AppState::with_tokens(config, tokens.clone());
    let series_config = state.config.series_config()?;
    if let Some(tokens) = tokens {
        tracing::info!(tokens = tokens.current().len(), "bearer tokens required");
        let stop = state.shutdown_signal();
        tokio::spawn(reload::watch("token file", stop, move || tokens.reload()));
    }
    let opener = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || -> Result<(), ServerError> {
            open_resources(&state, series_config)?;
            let began = std::time::Instant::now();
            let store = kelp_store::Store::open(store_config)?;
            let r = store.recovery();
            tracing::info!(
                wal_records = r.wal_records,
                wal_entries = r.wal_entries,
                dropped_tails = r.dropped.len(),
                bad_files = r.bad_files.len(),
                took_ms = began.elapsed().as_millis() as u64,
                "store recovered; ready"
            );
            state.set_store(Arc::new(store));
            Ok(())
        })
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let signal_state = state.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests");
        signal_state.begin_shutdown();
        let _ = stop_tx.send(());
    });
    let stopped = async move {
        let _ = stop_rx.await;
    };
    let mut server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match tls
    {
        None => Box::pin(
            axum::serve(listener, app(state.clone()))
                .with_graceful_shutdown(stopped)
                .into_future(),
        ),
        Some(files) => {
            let watched = files.clone();
            let stop = state.shutdown_signal();
            tokio::spawn(reload::watch("TLS certificate", stop, move || {
                watched.reload()
            }));
            let listener =
                tls::TlsListener::new(listener, files).map_err(|source| ServerError::Io {
                    op: "listen with TLS",
                    source,
                })?;
            Box::pin(
                axum::serve(listener, app(state.clone()))
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
    };
    let mut shutdown_seen = state.shutdown_signal();
    let served = tokio::select! {
        r = &mut server => r,
        _ = async {
            let _ = shutdown_seen.wait_for(|s| *s).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish in time");
            Ok(())
        }
    };
    let opened = opener.await.map_err(|e| ServerError::Io {
        op: "open store",
        source: std::io::Error::other(e),
    })?;
    if let Ok(res) = state.resources() {
        let res = res.clone();
        let closed = tokio::task::spawn_blocking(move || res.close()).await;
        if let Ok(Err(e)) = closed {
            tracing::error!(error = %e, "flushing the resource series store");
        }
    }
    if let Some(store) = state.take_store() {
        drop(state);
        tokio::task::spawn_blocking(move || close_store(store))
            .await
            .map_err(|e| ServerError::Io {
                op: "close store",
                source: std::io::Error::other(e),
            })??;
    }
    opened?;
    served.map_err(|source| ServerError::Io {
        op: "serve",
        source,
    })
}

/// Opens the resource series store (issue #7) and maintains it (cuts, retention) every
/// 10 s on the blocking pool.
fn open_resources(state: &AppState, config: kelp_series::SeriesConfig) -> Result<(), ServerError> {
    let (res, rec) = resources::Resources::open(config).map_err(|e| ServerError::Io {
        op: "open the resource series store",
        source: std::io::Error::other(e),
    })?;
    tracing::info!(
        chunk_files = rec.chunk_files,
        wal_samples = rec.wal_samples,
        torn = rec.torn.len(),
        "resource series store recovered"
    );
    let res = Arc::new(res);
    state.set_resources(res.clone());
    let weak = Arc::downgrade(&res);
    tokio::runtime::Handle::current().spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            let Some(res) = weak.upgrade() else { return };
            let done = tokio::task::spawn_blocking(move || res.maintain()).await;
            if let Ok(Err(e)) = done {
                tracing::error!(error = %e, "resource series maintenance");
            }
        }
    });
    Ok(())
}

/// Flushes the head to segments and closes the store (once no handler holds it).
fn close_store(store: Arc<kelp_store::Store>) -> Result<(), ServerError> {
    store.flush()?;
    match Arc::try_unwrap(store) {
        Ok(store) => store.close()?,
        // A detached task (a tail look-back) still holds it: flushed is enough; the
        // background threads stop when it is dropped.
        Err(_) => tracing::warn!("store still referenced at shutdown; flushed, not closed"),
    }
    tracing::info!("store flushed and closed");
    Ok(())
}
