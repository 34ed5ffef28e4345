//! The crate's errors, and the one place where errors become HTTP answers
//! ([`ApiError`]'s `IntoResponse`, following spec §1.5 and §2.6).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kelp_query::QueryError;
use kelp_store::StoreError;
use kelp_wire::WireError;

/// Loki's body for a deadline exceeded (spec §1.5).
pub const TIMEOUT_MESSAGE: &str = "request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed";

/// `X-Elastic-Product`, lower-cased as `HeaderName` wants it.
pub const ES_PRODUCT_HEADER: &str = "x-elastic-product";

/// Loki's body for a cancelled request.
pub const CANCELLED_MESSAGE: &str = "the request was cancelled by the client";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML does not parse or has unknown keys.
    #[error("config: {0}")]
    Yaml(String),
    /// An environment override that cannot be applied.
    #[error("environment variable {name}: {reason}")]
    Env {
        /// The variable.
        name: String,
        /// Why.
        reason: String,
    },
    /// A value that parses but cannot work.
    #[error("config key {key}: {reason}")]
    Invalid {
        /// The key, dotted.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn yaml(e: serde_yaml_ng::Error) -> Self {
        ConfigError::Yaml(e.to_string())
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or serving the socket.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The store failed to open or to close.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// An error answered to an HTTP client: handlers return `Result<_, ApiError>`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A bad parameter or body: 400 with the message.
    #[error("{0}")]
    BadRequest(String),
    /// Auth is enabled and `X-Scope-OrgID` is missing: 401 `no org id`.
    #[error("no org id")]
    NoOrgId,
    /// No or an unknown bearer token: 401.
    #[error("{0}")]
    Unauthorized(String),
    /// The token lacks the right, names another tenant or is scoped to namespaces on a
    /// route that cannot be scoped: 403.
    #[error("{0}")]
    Forbidden(String),
    /// The body is over a size limit: 413.
    #[error("{0}")]
    TooLarge(String),
    /// Per-tenant ingestion rate or query concurrency: 429 with `Retry-After`.
    #[error("{message}")]
    RateLimited {
        /// The message.
        message: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The server is overloaded (too many pushes in flight): 503 with `Retry-After`.
    #[error("{message}")]
    Overloaded {
        /// The message.
        message: String,
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The store is still recovering: 503.
    #[error("{0}")]
    NotReady(String),
    /// A decode error: 413 for too large, else 400.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A query error: 400 for the client's, 504 timeout, 499 cancelled, 500 otherwise.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// A store error: 400 for limits and bad queries, 503 when full or closed, 500 else.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else: 500.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A 400 with `message`.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }

    /// Elasticsearch's exception type for this error's status (spec §10.3).
    pub fn es_type(&self) -> &'static str {
        match self.status_and_message().0.as_u16() {
            429 | 503 => "es_rejected_execution_exception",
            413 => "content_too_long_exception",
            400..=499 => "illegal_argument_exception",
            _ => "exception",
        }
    }

    /// The answer in Elasticsearch's error envelope, for the `_bulk` routes.
    pub fn into_es_response(self) -> Response {
        let (status, message) = self.status_and_message();
        let body = kelp_wire::bulk::error_response(status.as_u16(), self.es_type(), &message);
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::HeaderName::from_static(ES_PRODUCT_HEADER),
            HeaderValue::from_static(kelp_wire::bulk::PRODUCT_HEADER.1),
        );
        resp
    }

    /// The HTTP status and the body text.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        let msg = self.to_string();
        let status = match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NoOrgId | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotReady(_) | ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Wire(e) if e.is_too_large() => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Wire(_) => StatusCode::BAD_REQUEST,
            ApiError::Query(QueryError::Timeout(_)) => {
                return (StatusCode::GATEWAY_TIMEOUT, TIMEOUT_MESSAGE.into())
            }
            ApiError::Query(QueryError::Cancelled) => {
                return (client_closed(), CANCELLED_MESSAGE.into())
            }
            ApiError::Query(QueryError::Store(e)) | ApiError::Store(e) => store_status(e),
            ApiError::Query(e) if e.is_client_error() => StatusCode::BAD_REQUEST,
            ApiError::Query(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, msg)
    }
}

/// 499, nginx's "client closed request", which Loki uses.
fn client_closed() -> StatusCode {
    // 499 is within 100..=999: `from_u16` cannot fail.
    StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
}

fn store_status(e: &StoreError) -> StatusCode {
    match e {
        StoreError::Limit { .. } | StoreError::InvalidLabels(_) | StoreError::InvalidQuery(_) => {
            StatusCode::BAD_REQUEST
        }
        // Backpressure and shutdown are transient: shippers retry 5xx.
        StoreError::HeadFull { .. }
        | StoreError::WalFailed { .. }
        | StoreError::Closed
        | StoreError::Bucket { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_message();
        if status.is_server_error() {
            tracing::warn!(%status, error = %message, "request failed");
        }
        let mut resp = (status, message).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        match self {
            ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::Overloaded {
                retry_after_secs, ..
            } => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            // Every other 503 is transient too (recovery, a full head, shutdown).
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                h.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            _ => {}
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let cases: Vec<(ApiError, u16)> = vec![
            (ApiError::bad("x"), 400),
            (ApiError::NoOrgId, 401),
            (ApiError::Unauthorized("x".into()), 401),
            (ApiError::Forbidden("x".into()), 403),
            (ApiError::TooLarge("x".into()), 413),
            (
                ApiError::RateLimited {
                    message: "x".into(),
                    retry_after_secs: 1,
                },
                429,
            ),
            (ApiError::NotReady("x".into()), 503),
            (
                ApiError::Overloaded {
                    message: "x".into(),
                    retry_after_secs: 1,
                },
                503,
            ),
            (ApiError::Query(QueryError::Timeout("1s".into())), 504),
            (ApiError::Query(QueryError::Cancelled), 499),
            (ApiError::Query(QueryError::InstantLogQuery), 400),
            (ApiError::Store(StoreError::Closed), 503),
            (ApiError::Internal("x".into()), 500),
        ];
        for (e, want) in cases {
            assert_eq!(e.status_and_message().0.as_u16(), want, "{e:?}");
        }
        assert_eq!(ApiError::NoOrgId.status_and_message().1, "no org id");
    }
}
