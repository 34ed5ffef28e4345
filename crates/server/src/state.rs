//! What every handler shares: configuration, the store once recovered, the query engine,
//! metrics, limits and the live-tail fan-out.

use std::sync::{Arc, OnceLock};

use axum::http::HeaderMap;
use kelp_model::{StreamEntries, TenantId};
use kelp_query::Engine;
use kelp_store::Store;
use tokio::sync::{broadcast, watch};

use crate::auth::Tokens;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::inventory::Inventories;
use crate::limits::{IngestSlots, QuerySlots, RateLimiter};
use crate::metrics::{Metrics, StoreGauges};
use crate::resources::Resources;

/// Batches sent to tail clients: what one append stored, for one tenant.
#[derive(Debug)]
pub struct TailBatch {
    /// The tenant.
    pub tenant: TenantId,
    /// The streams as appended (after `service_name` discovery).
    pub streams: Arc<Vec<StreamEntries>>,
}

/// Batches buffered in the tail channel before the slowest receiver lags.
const TAIL_CHANNEL_BATCHES: usize = 1024;

/// The shared state; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// The fields behind [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub config: ServerConfig,
    /// The tenant of unauthenticated requests.
    pub no_auth_tenant: TenantId,
    store: OnceLock<(Arc<Store>, Engine)>,
    resources: OnceLock<Arc<Resources>>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The per-tenant ingestion rate limit.
    pub rate: RateLimiter,
    /// Queries running at once.
    pub queries: QuerySlots,
    /// Pushes in flight.
    pub ingest_slots: IngestSlots,
    /// Every stored batch, for live tail.
    pub tail: broadcast::Sender<Arc<TailBatch>>,
    /// The agents' pod inventories (which pods exist on each node).
    pub inventory: Inventories,
    /// The bearer tokens, when `auth.tokens_file` is set.
    pub tokens: Option<Arc<Tokens>>,
    /// The other replicas, when `replicas.peers` is set.
    pub peers: Option<Arc<crate::peers::Peers>>,
    /// Read-only views of replicas that did not answer, from the shared bucket.
    pub bucket_views: crate::fallback::BucketViews,
    shutdown: watch::Sender<bool>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State for `config`, without a store yet (`/ready` answers 503 until
    /// [`AppState::set_store`]).
    pub fn new(config: ServerConfig) -> Self {
        let tokens = config.auth.tokens_file.as_deref().map(|p| {
            Tokens::open(p).unwrap_or_else(|e| {
                // Fail closed: no token is accepted until the file is fixed (reloaded).
                tracing::error!(error = %e, "token file unusable; every request is refused");
                Tokens::deny_all(p)
            })
        });
        Self::with_tokens(config, tokens.map(Arc::new))
    }

    /// State for `config` with the token file already read (`serve` reads it first, so a
    /// bad file stops the start with its error).
    pub fn with_tokens(config: ServerConfig, tokens: Option<Arc<Tokens>>) -> Self {
        let l = &config.limits;
        let rate = RateLimiter::new(l.ingestion_rate_bytes_per_sec, l.ingestion_burst_bytes);
        let queries = QuerySlots::new(l.max_concurrent_queries);
        let peers = crate::peers::Peers::from_config(&config.replicas).unwrap_or_else(|e| {
            // `serve` checks this first; a test's bad section means no peers.
            tracing::error!(error = %e, "replicas: no peers");
            None
        });
        Self(Arc::new(Shared {
            peers,
            bucket_views: Default::default(),
            no_auth_tenant: config.no_auth_tenant(),
            store: OnceLock::new(),
            resources: OnceLock::new(),
            metrics: Metrics::default(),
            rate,
            queries,
            ingest_slots: IngestSlots::new(l.max_inflight_push_requests),
            tail: broadcast::channel(TAIL_CHANNEL_BATCHES).0,
            inventory: Inventories::load(&config.data_dir),
            tokens,
            shutdown: watch::channel(false).0,
            config,
        }))
    }

    /// State with an open store, ready at once (for tests).
    pub fn with_store(config: ServerConfig, store: Arc<Store>) -> Self {
        let s = Self::new(config);
        s.set_store(store);
        s
    }

    /// Makes the recovered store available; from now on `/ready` answers 200.
    pub fn set_store(&self, store: Arc<Store>) {
        let engine = Engine::new(store.clone(), self.config.query_limits());
        let _ = self.0.store.set((store, engine));
    }

    /// The store, or 503 while it is recovering.
    pub fn store(&self) -> Result<&Arc<Store>, ApiError> {
        self.0
            .store
            .get()
            .map(|(s, _)| s)
            .ok_or_else(|| ApiError::NotReady("the store is still recovering".into()))
    }

    /// The query engine, or 503 while the store is recovering.
    pub fn engine(&self) -> Result<&Engine, ApiError> {
        self.0
            .store
            .get()
            .map(|(_, e)| e)
            .ok_or_else(|| ApiError::NotReady("the store is still recovering".into()))
    }

    /// Makes the resource series store available (issue #7).
    pub fn set_resources(&self, resources: Arc<Resources>) {
        let _ = self.0.resources.set(resources);
    }

    /// The resource series store, or 503 while it is opening.
    pub fn resources(&self) -> Result<&Arc<Resources>, ApiError> {
        self.0
            .resources
            .get()
            .ok_or_else(|| ApiError::NotReady("the resource series store is still opening".into()))
    }

    /// The store, once opened, for shutdown.
    pub fn take_store(&self) -> Option<Arc<Store>> {
        self.0.store.get().map(|(s, _)| s.clone())
    }

    /// The tenant of a request (spec §1.2): with auth disabled the header is ignored;
    /// with auth enabled it is required, must be valid and name exactly one tenant. With
    /// a token file, the auth middleware has set it to the token's tenant.
    pub fn tenant(&self, headers: &HeaderMap) -> Result<TenantId, ApiError> {
        if !self.config.auth_enabled && self.tokens.is_none() {
            return Ok(self.no_auth_tenant.clone());
        }
        let value = headers
            .get("x-scope-orgid")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(ApiError::NoOrgId)?;
        if value.contains('|') {
            return Err(ApiError::bad(
                "multiple org ids are not supported by this endpoint",
            ));
        }
        TenantId::parse(value).map_err(|e| ApiError::bad(e.to_string()))
    }

    /// Tells long-lived handlers (tail) that the server is shutting down.
    pub fn begin_shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// A receiver that changes to `true` at shutdown.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Store figures for `/metrics`.
    pub fn store_gauges(&self) -> StoreGauges {
        match self.0.store.get() {
            Some((s, _)) => StoreGauges {
                head_bytes: s.head_bytes(),
                disk_bytes: s.disk_bytes(),
                segments: s.segment_count() as u64,
                ready: 1,
            },
            None => StoreGauges::default(),
        }
    }
}
