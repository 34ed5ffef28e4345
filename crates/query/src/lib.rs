//! # kelp-query
//!
//! Planning and evaluation of LogQL (parsed by `kelp-logql`) over `kelp-store`'s scan
//! API, with Loki's semantics. No HTTP here: the server turns [`QueryResponse`] into
//! Loki's JSON.
//!
//! - [`Engine`] runs [`Engine::query_range`] (streams for a log query, a matrix for a
//!   metric query) and [`Engine::query_instant`] (a vector or a scalar) under [`Limits`]
//!   (entries, series, samples, time range, regex size, timeout) and an optional
//!   [`CancelToken`].
//! - Stream selectors become store matchers (the label index picks streams); line
//!   filters before the first other stage run inside the store, where blooms prune
//!   blocks; `count_over_time` and `rate` of such a selector use [`kelp_store::Store::count`].
//! - [`QueryResult`]: [`StreamResult`]s, [`Series`], [`Sample`]s or a scalar, with
//!   [`QueryStats`] for Loki's `stats`.
//! - [`QueryError`]: one error type, with Loki's messages.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use kelp_model::{Entry, Labels, TenantId, Timestamp};
//! use kelp_query::{Engine, Limits, QueryResult, RangeParams};
//! use kelp_store::{Direction, Store, StoreConfig, StreamEntries};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(Store::open(StoreConfig::new(dir.path())).unwrap());
//! let tenant = TenantId::parse("fake").unwrap();
//! let t0 = 1_700_000_000;
//! let entries = (0..4)
//!     .map(|i| Entry::new(Timestamp::from_unix_secs(t0 + i * 10), format!(r#"{{"level":"error","n":{i}}}"#)))
//!     .collect();
//! let labels = Labels::from_pairs([("app", "api")]).unwrap();
//! store.append(&tenant, &[StreamEntries { labels, entries }]).unwrap();
//!
//! let engine = Engine::new(store, Limits::default());
//! let params = RangeParams {
//!     start: Timestamp::from_unix_secs(t0),
//!     end: Timestamp::from_unix_secs(t0 + 60),
//!     step: Duration::from_secs(60),
//!     interval: Duration::ZERO,
//!     direction: Direction::Backward,
//!     limit: 2,
//!     cancel: None,
//! };
//! // A log query: the two newest lines, with the labels `json` extracted.
//! let out = engine.query_range(&tenant, r#"{app="api"} |= "error" | json"#, &params).unwrap();
//! let QueryResult::Streams(streams) = out.result else { unreachable!() };
//! assert_eq!(streams.len(), 2); // n="2" and n="3" are two label sets
//! assert_eq!(streams[1].labels.get("n"), Some("3"));
//!
//! // A metric query: entries in (t-1m, t] at t = t0+60s.
//! let params = RangeParams { start: params.end, ..params };
//! let out = engine.query_range(&tenant, r#"sum(count_over_time({app="api"}[1m]))"#, &params).unwrap();
//! let QueryResult::Matrix(m) = out.result else { unreachable!() };
//! assert_eq!(m[0].points, vec![(Timestamp::from_unix_secs(t0 + 60), 3.0)]);
//! ```

mod binary;
mod count;
mod engine;
mod error;
mod eval;
#[doc(hidden)]
pub mod fuzzing;
mod logs;
mod pipeline;
mod plan;
mod range;
mod result;
mod template;
mod vector;

pub use engine::{CancelToken, Engine, InstantParams, Limits, Pace, Query, RangeParams};
pub use error::{QueryError, Result};
pub use kelp_store::Direction;
pub use result::{LogEntry, QueryResponse, QueryResult, QueryStats, Sample, Series, StreamResult};
