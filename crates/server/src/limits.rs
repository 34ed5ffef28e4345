//! Server-side limits: the per-tenant ingestion rate (a token bucket, 429), and one
//! [`Slots`] type for the query requests outstanding (429) and the pushes in flight (503:
//! the server, not the tenant, is overloaded; [`shed_ingest`]). Queries evaluating at
//! once are bounded by the query pool (`query_pool.rs`). The store enforces label and line limits;
//! the engine the per-query ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kelp_model::TenantId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// A token bucket of line bytes per tenant.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<TenantId, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` bytes per second with `burst` bytes of headroom; a rate of 0 disables it.
    pub fn new(rate: u64, burst: u64) -> Self {
        let burst = if burst == 0 { rate.max(6 << 20) } else { burst };
        Self {
            rate: rate as f64,
            burst: burst as f64,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `bytes` from `tenant`'s bucket, or answers 429 with Loki's message and a
    /// `Retry-After`. A request larger than the burst is refused outright.
    pub fn take(&self, tenant: &TenantId, bytes: u64, lines: usize) -> Result<(), ApiError> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(tenant.clone()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        let want = bytes as f64;
        if want <= *tokens {
            *tokens -= want;
            return Ok(());
        }
        let wait = ((want - *tokens) / self.rate).ceil().max(1.0) as u64;
        Err(ApiError::RateLimited {
            message: format!(
                "ingestion rate limit exceeded for user {tenant} (limit: {} bytes/sec) while attempting to ingest '{lines}' lines totaling '{bytes}' bytes, reduce log volume or contact your Loki administrator to see if the limit can be increased",
                self.rate as u64
            ),
            retry_after_secs: wait,
        })
    }
}

/// Seconds a shed push is told to wait.
pub const SHED_RETRY_AFTER_SECS: u64 = 1;

/// Bounds requests in flight: a request that finds every slot taken is answered at once
/// with the bound's error, never queued.
#[derive(Debug, Clone)]
pub struct Slots {
    sem: Arc<Semaphore>,
    full: fn() -> ApiError,
}

impl Slots {
    /// Query requests outstanding, at most `n`; past them 429 `too many outstanding
    /// requests` (Loki's queue-full answer).
    pub fn queries(n: usize) -> Self {
        Self::new(n, || ApiError::RateLimited {
            message: "too many outstanding requests".into(),
            retry_after_secs: 1,
        })
    }

    /// Push requests in flight, bodies included, at most `n`; past them 503 with
    /// `Retry-After` (the server is overloaded, whoever the tenant).
    pub fn pushes(n: usize) -> Self {
        Self::new(n, || ApiError::Overloaded {
            message: "too many push requests in flight, the server is overloaded: retry later"
                .into(),
            retry_after_secs: SHED_RETRY_AFTER_SECS,
        })
    }

    fn new(n: usize, full: fn() -> ApiError) -> Self {
        Self {
            sem: Arc::new(Semaphore::new(n)),
            full,
        }
    }

    /// A slot, held until the permit is dropped, or the bound's error.
    pub fn acquire(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.sem
            .clone()
            .try_acquire_owned()
            .map_err(|_| (self.full)())
    }
}

/// The middleware that sheds load on write routes: a push that finds every slot taken is
/// answered 503 at once, before its body is read, so memory and the blocking pool stay
/// bounded however many shippers push at once. Runs after authentication.
pub async fn shed_ingest(
    axum::extract::State(st): axum::extract::State<crate::state::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if crate::auth::need(req.method(), req.uri().path()) != crate::auth::Need::Write {
        return next.run(req).await;
    }
    // Queries are paced while pushes arrive (`query_pool.rs`), shed ones included.
    st.query_pool.ingest_seen();
    match st.ingest_slots.acquire() {
        Ok(_slot) => {
            let resp = next.run(req).await;
            st.query_pool.ingest_seen();
            resp
        }
        Err(e) => {
            st.metrics.shed();
            if req.uri().path().ends_with("/_bulk") {
                e.into_es_response()
            } else {
                e.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_over_burst_and_disabled_accepts_all() {
        let t = TenantId::parse("a").unwrap();
        let off = RateLimiter::new(0, 0);
        assert!(off.take(&t, u64::MAX, 1).is_ok());
        let rl = RateLimiter::new(100, 1000);
        assert!(rl.take(&t, 900, 1).is_ok());
        let Err(ApiError::RateLimited {
            message,
            retry_after_secs,
        }) = rl.take(&t, 900, 3)
        else {
            panic!("expected 429")
        };
        assert!(message.starts_with("ingestion rate limit exceeded for user a"));
        assert!(retry_after_secs >= 1);
        let other = TenantId::parse("b").unwrap();
        assert!(rl.take(&other, 900, 1).is_ok());
    }

    #[test]
    fn query_slots_refuse_with_429() {
        let s = Slots::queries(1);
        let p = s.acquire().unwrap();
        let e = s.acquire().unwrap_err();
        assert_eq!(
            e.status_and_message(),
            (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too many outstanding requests".into()
            )
        );
        drop(p);
        assert!(s.acquire().is_ok());
    }

    #[test]
    fn ingest_slots_shed_with_503() {
        let s = Slots::pushes(1);
        let p = s.acquire().unwrap();
        let e = s.acquire().unwrap_err();
        assert_eq!(e.status_and_message().0.as_u16(), 503);
        drop(p);
        assert!(s.acquire().is_ok());
    }
}
