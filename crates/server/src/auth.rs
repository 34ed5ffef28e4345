//! Bearer-token authentication, tenants and namespace scoping.
//!
//! Three modes, chosen by the configuration:
//! - no token file, `auth_enabled: false` (the default): every request belongs to
//!   `no_auth_tenant`, as in Loki;
//! - no token file, `auth_enabled: true`: `X-Scope-OrgID` names the tenant (Loki's model:
//!   authentication is a proxy's business);
//! - `auth.tokens_file` set: every request but the operational ones, Elasticsearch's
//!   `GET /` and the web UI's static files ([`need`]) needs `Authorization: Bearer
//!   <token>`; the token gives the tenant (`X-Scope-OrgID` must be
//!   absent or equal), the rights (`read`, `write`) and optionally the namespaces a read
//!   may see. The file is re-read when it changes (polled) and on SIGHUP.
//!
//! [`authenticate`] is the middleware that does this for every route, once: it answers
//! 401 (no or unknown token) and 403 (missing right, other tenant, a namespace-scoped
//! token on a route that cannot be scoped), sets `X-Scope-OrgID` to the token's tenant
//! for the handlers, and puts the caller's [`Access`] in the request's extensions. Routes
//! that read by label selector apply [`Access::namespaces`] themselves ([`scope_expr`],
//! [`Access::scope_matchers`]); a route missing from [`scoped_route`] refuses scoped
//! tokens, so a new route never leaks another namespace by default.
//!
//! Token file (YAML or JSON; also the content of a Kubernetes Secret mounted as a file):
//!
//! ```yaml
//! - token: "long random string"      # or token_sha256: <64 hex digits of its SHA-256>
//!   tenant: team-a
//!   rights: [read, write]
//!   namespaces: [shop, ops]          # optional: reads see only these namespaces
//!   name: grafana                    # optional, for logs
//! ```
//!
//! Tokens are kept as SHA-256 digests and compared in constant time.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kelp_logql::ast::{Expr, MatchOp, Matcher, MetricExpr};
use kelp_model::TenantId;
use kelp_store::LabelMatcher;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ConfigError};
use crate::state::AppState;

/// The label namespace scoping applies to.
pub const NAMESPACE_LABEL: &str = "namespace";

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing: operational endpoints (`/ready`, `/metrics`, buildinfo).
    Nothing,
    /// Any valid token (Elasticsearch's handshake endpoints).
    Any,
    /// The `read` right.
    Read,
    /// The `write` right.
    Write,
}

/// What a route needs: writes for every ingest path, nothing for the operational ones,
/// Elasticsearch's `GET /` (a version document) and the web UI's static files (they hold
/// no data; the UI's API calls carry the token), any token for Elasticsearch's other
/// handshake stubs, read for everything else.
pub fn need(method: &Method, path: &str) -> Need {
    let es = path.strip_prefix("/es").unwrap_or(path);
    match path {
        "/ready" | "/metrics" | "/loki/api/v1/status/buildinfo" | "/" => return Need::Nothing,
        "/ui" => return Need::Nothing,
        p if p.starts_with("/ui/") => return Need::Nothing,
        "/loki/api/v1/push" | "/kelp/api/v1/push" | "/otlp/v1/logs" => return Need::Write,
        p if p == kelp_wire::inventory::INVENTORY_PATH => return Need::Write,
        // metrics.k8s.io samples pushed by agents, when that route exists.
        p if p.starts_with("/kelp/api/v1/resources") && method == Method::POST => {
            return Need::Write
        }
        _ => {}
    }
    if es == "/_bulk" || es.ends_with("/_bulk") {
        return Need::Write;
    }
    let es_stub = matches!(es, "" | "/" | "/_cluster/health" | "/_license" | "/_nodes")
        || [
            "/_index_template/",
            "/_ilm/policy/",
            "/_ingest/pipeline/",
            "/_nodes/",
        ]
        .iter()
        .any(|p| es.starts_with(p));
    if es_stub {
        return Need::Any;
    }
    Need::Read
}

/// Read routes that apply namespace scoping; a scoped token is refused (403) on any other.
pub fn scoped_route(path: &str) -> bool {
    matches!(
        path,
        "/loki/api/v1/query"
            | "/loki/api/v1/query_range"
            | "/loki/api/v1/labels"
            | "/loki/api/v1/series"
            | "/loki/api/v1/index/stats"
            | "/loki/api/v1/index/volume"
            | "/loki/api/v1/index/volume_range"
            | "/loki/api/v1/tail"
            | "/kelp/api/v1/pods"
            | "/kelp/api/v1/resources/range"
            | "/kelp/api/v1/resources/nodes"
            | "/metrics/resource"
    ) || (path.starts_with("/loki/api/v1/label/") && path.ends_with("/values"))
        || path == "/apis/metrics.k8s.io"
        || path.starts_with("/apis/metrics.k8s.io/")
}

/// Who is calling, as the handlers see it.
#[derive(Debug, Clone)]
pub struct Access {
    /// The tenant whose data the request reads or writes.
    pub tenant: TenantId,
    /// When set, reads see only streams whose `namespace` label is one of these.
    pub namespaces: Option<Arc<[String]>>,
}

impl Access {
    /// Whether reads may see `namespace` (always, when not scoped).
    pub fn sees(&self, namespace: &str) -> bool {
        self.namespaces
            .as_deref()
            .is_none_or(|ns| ns.iter().any(|n| n == namespace))
    }

    /// Whether reads are limited to some namespaces.
    pub fn is_scoped(&self) -> bool {
        self.namespaces.is_some()
    }

    /// The store matcher that limits a read to the namespaces, if scoped.
    pub fn scope_matcher(&self) -> Option<LabelMatcher> {
        let ns = self.namespaces.as_deref()?;
        Some(match ns {
            [one] => LabelMatcher::eq(NAMESPACE_LABEL, one),
            // Namespaces are validated labels: the regex always compiles; a matcher no
            // stream satisfies is the safe fallback.
            _ => LabelMatcher::new(NAMESPACE_LABEL, kelp_store::MatchOp::Re, &alternation(ns))
                .unwrap_or_else(|_| LabelMatcher::eq(NAMESPACE_LABEL, "\u{0}")),
        })
    }

    /// `matchers` with the scope added (unchanged when not scoped).
    pub fn scope_matchers(&self, mut matchers: Vec<LabelMatcher>) -> Vec<LabelMatcher> {
        matchers.extend(self.scope_matcher());
        matchers
    }

    /// The query, scoped: parsed, a namespace matcher added to every stream selector,
    /// printed again. Unchanged when not scoped (the engine parses it as usual).
    pub fn scope_query(&self, query: &str) -> Result<String, ApiError> {
        let Some(ns) = self.namespaces.as_deref() else {
            return Ok(query.to_owned());
        };
        let mut expr = kelp_logql::parse(query).map_err(|e| ApiError::bad(e.to_string()))?;
        scope_expr(&mut expr, ns);
        Ok(expr.to_string())
    }
}

/// `a|b`: namespaces are validated RFC 1123 labels (`[a-z0-9-]`), which need no escaping
/// in a regex.
fn alternation(ns: &[String]) -> String {
    ns.join("|")
}

/// Adds `namespace="a"` (one namespace) or `namespace=~"a|b"` to every stream selector
/// of `expr`: the log query's, and every range aggregation's in a metric query (through
/// vector aggregations, `label_replace` and both sides of binary operations). Matchers
/// are ANDed, so the query can only ever select fewer streams.
pub fn scope_expr(expr: &mut Expr, namespaces: &[String]) {
    let m = match namespaces {
        [one] => Matcher {
            name: NAMESPACE_LABEL.into(),
            op: MatchOp::Eq,
            value: one.clone(),
        },
        _ => Matcher {
            name: NAMESPACE_LABEL.into(),
            op: MatchOp::Re,
            value: alternation(namespaces),
        },
    };
    match expr {
        Expr::Log(log) => log.selector.push(m),
        Expr::Metric(metric) => scope_metric(metric, &m),
    }
}

fn scope_metric(e: &mut MetricExpr, m: &Matcher) {
    match e {
        MetricExpr::RangeAggregation(r) => r.range.log.selector.push(m.clone()),
        MetricExpr::VectorAggregation(v) => scope_metric(&mut v.expr, m),
        MetricExpr::LabelReplace(l) => scope_metric(&mut l.expr, m),
        MetricExpr::BinaryOp(b) => {
            scope_metric(&mut b.lhs, m);
            scope_metric(&mut b.rhs, m);
        }
        MetricExpr::Literal(_) | MetricExpr::Vector(_) => {}
    }
}

/// One entry of the token file, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    /// The token itself.
    #[serde(default)]
    token: Option<String>,
    /// Or the hex SHA-256 of the token.
    #[serde(default)]
    token_sha256: Option<String>,
    /// The tenant the token acts for.
    tenant: String,
    /// `read`, `write`.
    rights: Vec<String>,
    /// Namespaces reads are limited to.
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    /// A name for logs.
    #[serde(default)]
    name: Option<String>,
}

/// One valid token.
#[derive(Debug, Clone)]
struct Grant {
    digest: [u8; 32],
    name: String,
    tenant: TenantId,
    read: bool,
    write: bool,
    namespaces: Option<Arc<[String]>>,
}

/// The tokens of one version of the file.
#[derive(Debug, Default)]
pub struct TokenSet {
    grants: Vec<Grant>,
}

/// Shortest token accepted in clear (bytes).
const MIN_TOKEN_BYTES: usize = 16;

impl TokenSet {
    /// Parses the file's text (YAML or JSON), validating every entry.
    pub fn parse(text: &str) -> Result<Self, String> {
        let raw: Vec<RawToken> = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        let mut grants: Vec<Grant> = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let at = |why: String| format!("token #{}: {why}", i + 1);
            let digest = match (&r.token, &r.token_sha256) {
                (Some(t), None) => {
                    if t.trim() != t || t.len() < MIN_TOKEN_BYTES {
                        return Err(at(format!(
                            "a token must be at least {MIN_TOKEN_BYTES} bytes, without surrounding spaces"
                        )));
                    }
                    sha256(t.as_bytes())
                }
                (None, Some(h)) => {
                    let bytes = hex::decode(h.trim())
                        .ok()
                        .filter(|b| b.len() == 32)
                        .ok_or_else(|| at("token_sha256 must be 64 hex digits".into()))?;
                    let mut d = [0u8; 32];
                    d.copy_from_slice(&bytes);
                    d
                }
                _ => {
                    return Err(at(
                        "exactly one of token and token_sha256 is required".into()
                    ))
                }
            };
            if grants.iter().any(|g| g.digest == digest) {
                return Err(at("the same token appears twice".into()));
            }
            let tenant = TenantId::parse(&r.tenant).map_err(|e| at(format!("tenant: {e}")))?;
            let (mut read, mut write) = (false, false);
            for right in &r.rights {
                match right.as_str() {
                    "read" => read = true,
                    "write" => write = true,
                    other => return Err(at(format!("right {other:?} is not one of read, write"))),
                }
            }
            if !read && !write {
                return Err(at("rights must name read, write or both".into()));
            }
            let namespaces = match r.namespaces {
                None => None,
                Some(ns) if ns.is_empty() => {
                    return Err(at("namespaces, when given, must list at least one".into()))
                }
                Some(ns) => {
                    for n in &ns {
                        if !valid_namespace(n) {
                            return Err(at(format!(
                                "namespace {n:?} is not a valid Kubernetes namespace name"
                            )));
                        }
                    }
                    Some(Arc::from(ns))
                }
            };
            grants.push(Grant {
                digest,
                name: r.name.unwrap_or_else(|| format!("#{}", i + 1)),
                tenant,
                read,
                write,
                namespaces,
            });
        }
        Ok(Self { grants })
    }

    /// How many tokens.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The grant of `token`, comparing its digest with every entry in constant time.
    fn find(&self, token: &str) -> Option<&Grant> {
        let d = sha256(token.as_bytes());
        let mut found = None;
        for g in &self.grants {
            if constant_time_eq(&g.digest, &d) {
                found = Some(g);
            }
        }
        found
    }
}

/// A Kubernetes namespace name: an RFC 1123 label.
fn valid_namespace(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equality whose time does not depend on where the inputs differ.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The token file, re-read when its content changes.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    current: RwLock<(Vec<u8>, Arc<TokenSet>)>,
}

impl Tokens {
    /// Reads and validates the file.
    pub fn open(path: &Path) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::Invalid {
            key: "auth.tokens_file",
            reason: format!("{}: {reason}", path.display()),
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let set = parse_bytes(&bytes).map_err(bad)?;
        Ok(Self {
            path: path.to_owned(),
            current: RwLock::new((bytes, Arc::new(set))),
        })
    }

    /// A token store that accepts no token (the file could not be read at start).
    pub fn deny_all(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            current: RwLock::new((Vec::new(), Arc::new(TokenSet::default()))),
        }
    }

    /// The tokens in force.
    pub fn current(&self) -> Arc<TokenSet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Re-reads the file; a changed, valid file replaces the tokens. A file that cannot
    /// be read or is invalid keeps the tokens in force (and says why). Returns whether
    /// the tokens changed.
    pub fn reload(&self) -> Result<bool, String> {
        let bytes =
            std::fs::read(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        if self.current.read().unwrap_or_else(|e| e.into_inner()).0 == bytes {
            return Ok(false);
        }
        let set = parse_bytes(&bytes).map_err(|e| format!("{}: {e}", self.path.display()))?;
        tracing::info!(tokens = set.len(), path = %self.path.display(), "token file reloaded");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (bytes, Arc::new(set));
        Ok(true)
    }
}

fn parse_bytes(bytes: &[u8]) -> Result<TokenSet, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
    TokenSet::parse(text)
}

/// The middleware: authenticates every request once, answers 401/403, and gives the
/// handlers the caller's [`Access`] (and, with tokens, its tenant in `X-Scope-OrgID`).
pub async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let need = need(req.method(), req.uri().path());
    if need == Need::Nothing {
        if st.tokens.is_some() {
            // No token, no tenant: a handler here can never act for a tenant it names.
            req.headers_mut().remove("x-scope-orgid");
        }
        return next.run(req).await;
    }
    match access(&st, need, req.uri().path(), req.headers()) {
        Ok(a) => {
            if st.tokens.is_some() {
                // `AppState::tenant` reads it for handlers that know no `Access`.
                if let Ok(v) = HeaderValue::from_str(a.tenant.as_str()) {
                    req.headers_mut().insert("x-scope-orgid", v);
                }
            }
            req.extensions_mut().insert(a);
            next.run(req).await
        }
        Err(e) => {
            let challenge = matches!(e, ApiError::Unauthorized(_));
            let mut resp = e.into_response();
            if challenge {
                resp.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"kelp\""),
                );
            }
            resp
        }
    }
}

/// The prefix of a WebSocket subprotocol that carries a bearer token, as Kubernetes'
/// API server reads it: `base64url.bearer.authorization.k8s.io.<token, base64url without
/// padding>`. A browser cannot set `Authorization` on a WebSocket, only subprotocols.
pub const WS_TOKEN_PROTOCOL_PREFIX: &str = "base64url.bearer.authorization.k8s.io.";

/// The subprotocol the live-tail route selects when a client offers it (a browser fails a
/// handshake that offered subprotocols and got none back, and the token one must never be
/// echoed).
pub const TAIL_PROTOCOL: &str = "kelp.tail.v1";

/// The bearer token of a request: `Authorization: Bearer <token>`, or for a WebSocket
/// handshake without that header, a [`WS_TOKEN_PROTOCOL_PREFIX`] subprotocol. The token
/// is never logged.
fn bearer(headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be \"Bearer <token>\"".into())
            });
    }
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(WS_TOKEN_PROTOCOL_PREFIX));
    match offered {
        Some(encoded) => {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(encoded.trim_end_matches('='))
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    ApiError::Unauthorized(format!(
                        "the {WS_TOKEN_PROTOCOL_PREFIX}<token> subprotocol must carry the token in base64url"
                    ))
                })
        }
        None => Err(ApiError::Unauthorized(
            "missing bearer token: send \"Authorization: Bearer <token>\"".into(),
        )),
    }
}

/// Who the request is, and whether it may do what the route needs.
fn access(st: &AppState, need: Need, path: &str, headers: &HeaderMap) -> Result<Access, ApiError> {
    if let Some(a) = peer_access(st, need, headers)? {
        return Ok(a);
    }
    let Some(tokens) = &st.tokens else {
        return Ok(Access {
            tenant: st.tenant(headers)?,
            namespaces: None,
        });
    };
    let token = bearer(headers)?;
    let set = tokens.current();
    let g = set
        .find(&token)
        .ok_or_else(|| ApiError::Unauthorized("invalid bearer token".into()))?;
    if let Some(org) = headers.get("x-scope-orgid") {
        let org = org.to_str().unwrap_or("").trim();
        if !org.is_empty() && org != g.tenant.as_str() {
            return Err(ApiError::Forbidden(format!(
                "token {} is for tenant {} and cannot act for org id {org:?}",
                g.name, g.tenant
            )));
        }
    }
    let (right, ok) = match need {
        Need::Read => ("read", g.read),
        Need::Write => ("write", g.write),
        Need::Any | Need::Nothing => ("", true),
    };
    if !ok {
        return Err(ApiError::Forbidden(format!(
            "token {} does not grant {right} access",
            g.name
        )));
    }
    if need == Need::Read && g.namespaces.is_some() && !scoped_route(path) {
        return Err(ApiError::Forbidden(format!(
            "token {} may read only some namespaces, and {path} cannot be limited to namespaces",
            g.name
        )));
    }
    Ok(Access {
        tenant: g.tenant.clone(),
        namespaces: if need == Need::Read {
            g.namespaces.clone()
        } else {
            None
        },
    })
}

/// A peer replica's read (`peers.rs`): the peer token with the local-only header, for
/// the tenant and namespaces the peer names. `None` when it is not one (normal rules).
fn peer_access(st: &AppState, need: Need, headers: &HeaderMap) -> Result<Option<Access>, ApiError> {
    let (Some(_), Some(peers)) = (&st.tokens, &st.peers) else {
        return Ok(None);
    };
    let (Some(want), true) = (peers.token(), crate::peers::is_local(headers)) else {
        return Ok(None);
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim();
    // Compared as digests, in constant time.
    let digest = |t: &str| Sha256::digest(t.as_bytes());
    let same = digest(given)
        .iter()
        .zip(digest(want).iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !same {
        return Ok(None);
    }
    if need != Need::Read {
        return Err(ApiError::Forbidden("the peer token only reads".into()));
    }
    let tenant = crate::peers::peer_tenant(headers).ok_or(ApiError::NoOrgId)?;
    Ok(Some(Access {
        tenant,
        namespaces: crate::peers::peer_namespaces(headers),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn token_file_rules() {
        let ok = format!(
            "- {{token: {A}, tenant: a, rights: [read, write]}}\n- {{token_sha256: {}, tenant: b, rights: [read], namespaces: [ns-a]}}\n",
            hex::encode(sha256(b"bbbbbbbbbbbbbbbbbbbbbbbbbbbb"))
        );
        let set = TokenSet::parse(&ok).unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.find(A).unwrap().tenant.as_str(), "a");
        let b = set.find("bbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap();
        assert!(b.read && !b.write);
        assert!(set.find("nope-nope-nope-nope").is_none());
        // JSON is YAML too.
        let json = format!(r#"[{{"token":"{A}","tenant":"a","rights":["write"]}}]"#);
        assert_eq!(TokenSet::parse(&json).unwrap().len(), 1);
        for bad in [
            "- {token: short, tenant: a, rights: [read]}".to_string(),
            format!("- {{token: {A}, tenant: a, rights: []}}"),
            format!("- {{token: {A}, tenant: a, rights: [admin]}}"),
            format!("- {{token: {A}, tenant: 'a b', rights: [read]}}"),
            format!("- {{token: {A}, tenant: a, rights: [read], namespaces: []}}"),
            format!("- {{token: {A}, tenant: a, rights: [read], namespaces: [Ns_A]}}"),
            format!("- {{token: {A}, tenant: a, rights: [read], extra: 1}}"),
            format!("- {{token: {A}, token_sha256: ab, tenant: a, rights: [read]}}"),
            "- {token_sha256: abcd, tenant: a, rights: [read]}".to_string(),
            format!("- {{token: {A}, tenant: a, rights: [read]}}\n- {{token: {A}, tenant: b, rights: [read]}}"),
            "tokens: 1".to_string(),
        ] {
            assert!(TokenSet::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_need_the_right_rights() {
        let cases = [
            ("POST", "/loki/api/v1/push", Need::Write),
            ("POST", "/kelp/api/v1/push", Need::Write),
            ("POST", "/otlp/v1/logs", Need::Write),
            ("POST", "/kelp/api/v1/inventory", Need::Write),
            ("POST", "/_bulk", Need::Write),
            ("PUT", "/es/logs/_bulk", Need::Write),
            ("POST", "/kelp/api/v1/resources", Need::Write),
            ("GET", "/kelp/api/v1/resources/pods", Need::Read),
            ("GET", "/", Need::Nothing),
            ("GET", "/ui/", Need::Nothing),
            ("GET", "/ui/app.js", Need::Nothing),
            ("GET", "/es/", Need::Any),
            ("GET", "/es/_cluster/health", Need::Any),
            ("PUT", "/_index_template/x", Need::Any),
            ("GET", "/ready", Need::Nothing),
            ("GET", "/metrics", Need::Nothing),
            ("GET", "/loki/api/v1/query_range", Need::Read),
            ("GET", "/loki/api/v1/tail", Need::Read),
            ("GET", "/kelp/api/v1/pods", Need::Read),
            ("GET", "/anything/new", Need::Read),
        ];
        for (m, p, want) in cases {
            assert_eq!(need(&m.parse().unwrap(), p), want, "{m} {p}");
        }
        assert!(scoped_route("/loki/api/v1/label/pod/values"));
        assert!(scoped_route("/apis/metrics.k8s.io/v1beta1/pods"));
        assert!(scoped_route("/metrics/resource"));
        assert!(!scoped_route("/kelp/api/v1/resources/push"));
    }

    #[test]
    fn every_selector_is_scoped() {
        let ns: Vec<String> = vec!["ns-a".into(), "ns-b".into()];
        let cases = [
            (r#"{app="x"} |= "e""#, 1),
            (r#"rate({app="x"}[5m])"#, 1),
            (
                r#"sum by (pod) (rate({app="x"}[5m])) / on (pod) sum by (pod) (count_over_time({app="y"} | json [1m]))"#,
                2,
            ),
            (
                r#"label_replace(topk(3, bytes_over_time({a="b"}[1h])), "d", "$1", "s", "(.*)") > 2 or vector(1)"#,
                1,
            ),
            (
                r#"quantile_over_time(0.9, {a="b"} | unwrap x [5m]) by (h)"#,
                1,
            ),
        ];
        for (q, n) in cases {
            let mut e = kelp_logql::parse(q).unwrap();
            scope_expr(&mut e, &ns);
            let printed = e.to_string();
            assert_eq!(
                printed.matches(r#"namespace=~"ns-a|ns-b""#).count(),
                n,
                "{printed}"
            );
            // The printed query parses to the same tree.
            assert_eq!(kelp_logql::parse(&printed).unwrap(), e);
            for sel in e.selectors() {
                assert!(sel.iter().any(|m| m.name == NAMESPACE_LABEL), "{printed}");
            }
        }
        let mut e = kelp_logql::parse(r#"{app="x"}"#).unwrap();
        scope_expr(&mut e, &["ns-a".to_string()]);
        assert_eq!(e.to_string(), r#"{app="x", namespace="ns-a"}"#);
    }

    #[test]
    fn reload_keeps_the_old_tokens_when_the_new_file_is_bad() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tokens.yaml");
        std::fs::write(&p, format!("- {{token: {A}, tenant: a, rights: [read]}}")).unwrap();
        let t = Tokens::open(&p).unwrap();
        assert!(!t.reload().unwrap());
        std::fs::write(&p, "- {token: x}").unwrap();
        assert!(t.reload().is_err());
        assert!(t.current().find(A).is_some());
        let b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        std::fs::write(&p, format!("- {{token: {b}, tenant: b, rights: [write]}}")).unwrap();
        assert!(t.reload().unwrap());
        assert!(t.current().find(A).is_none());
        assert_eq!(t.current().find(b).unwrap().tenant.as_str(), "b");
    }
}
