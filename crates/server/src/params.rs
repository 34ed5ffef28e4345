//! Request parameters (spec §1.1, §1.3, §1.4): the merged form of the URL query and a
//! urlencoded POST body, and Loki's rules for times, durations, limits and directions.

use std::time::Duration;

use axum::http::{header, HeaderMap};
use kelp_logql::ast::{Expr, Matcher};
use kelp_model::{GoDuration, Timestamp};
use kelp_store::{Direction, LabelMatcher, MatchOp};

use crate::error::ApiError;

/// Name/value pairs from the query string and, for a form POST, the body.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Merges `query` (the URL's query string) and `body` when it is a form.
    pub fn new(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut pairs: Vec<(String, String)> = query
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            pairs.extend(form_urlencoded::parse(body).into_owned());
        }
        Self(pairs)
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters as a query string, with `name` set to `value` when given (a peer
    /// replica gets the scoped query).
    pub fn encode_with(&self, name: &str, value: Option<&str>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if let Some(value) = value {
            s.append_pair(name, value);
        }
        for (k, v) in self.0.iter().filter(|(k, _)| k != name) {
            s.append_pair(k, v);
        }
        s.finish()
    }

    /// The required `query`.
    pub fn query(&self) -> Result<&str, ApiError> {
        self.get("query")
            .ok_or_else(|| ApiError::bad("query parameter is required"))
    }

    /// A time parameter (§1.3), or `default`.
    pub fn time(&self, name: &str, default: Timestamp) -> Result<Timestamp, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => Timestamp::parse_loki(v)
                .map_err(|_| ApiError::bad(format!("cannot parse {v:?} to a valid timestamp"))),
        }
    }

    /// `start` and `end` with Loki's defaults: `end` = now, `start` = `min(end, now) −
    /// since` (`since` defaulting to `default_since`); `end` before `start` is a 400.
    pub fn bounds(&self, default_since: Duration) -> Result<(Timestamp, Timestamp), ApiError> {
        let now = Timestamp::now();
        let end = self.time("end", now)?;
        let since = match self.get("since") {
            None => default_since,
            Some(v) => GoDuration::parse_prometheus(v)
                .map_err(|_| ApiError::bad(format!("cannot parse {v:?} to a valid duration")))?
                .to_std(),
        };
        let since_ns = i64::try_from(since.as_nanos()).unwrap_or(i64::MAX);
        let default_start =
            Timestamp::from_unix_nanos(end.min(now).as_unix_nanos().saturating_sub(since_ns));
        let start = self.time("start", default_start)?;
        if end < start {
            return Err(ApiError::bad(
                "end timestamp must not be before or equal to start time",
            ));
        }
        Ok((start, end))
    }

    /// `step` (§1.4): float seconds or a duration, truncated to milliseconds; by default
    /// `max(floor((end − start) / 250), 1s)`.
    pub fn step(&self, start: Timestamp, end: Timestamp) -> Result<Duration, ApiError> {
        let Some(v) = self.get("step") else {
            let span = (end.as_unix_nanos() - start.as_unix_nanos()).max(0) as u64;
            return Ok(Duration::from_secs((span / 250 / 1_000_000_000).max(1)));
        };
        let nanos = parse_seconds_or_duration(v)
            .ok_or_else(|| ApiError::bad(format!("cannot parse {v:?} to a valid duration")))?;
        let nanos = nanos - nanos % 1_000_000;
        if nanos <= 0 {
            return Err(ApiError::bad(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        Ok(Duration::from_nanos(nanos as u64))
    }

    /// `interval` of log range queries (float seconds or a duration, >= 0, default 0:
    /// every entry).
    pub fn interval(&self) -> Result<Duration, ApiError> {
        let Some(v) = self.get("interval") else {
            return Ok(Duration::ZERO);
        };
        let nanos = parse_seconds_or_duration(v)
            .ok_or_else(|| ApiError::bad(format!("cannot parse {v:?} to a valid duration")))?;
        if nanos < 0 {
            return Err(ApiError::bad("interval must be >= 0"));
        }
        Ok(Duration::from_nanos(nanos as u64))
    }

    /// `limit` (> 0, default 100).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.get("limit") {
            None => Ok(100),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n > 0 => Ok(n as usize),
                Ok(_) => Err(ApiError::bad("limit must be a positive value")),
                Err(_) => Err(ApiError::bad(format!(
                    "cannot parse {v:?} to a valid limit"
                ))),
            },
        }
    }

    /// `direction` (`backward` by default, case-insensitive).
    pub fn direction(&self) -> Result<Direction, ApiError> {
        match self
            .get("direction")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("backward") => Ok(Direction::Backward),
            Some("forward") => Ok(Direction::Forward),
            Some(_) => Err(ApiError::bad(format!(
                "invalid direction '{}'",
                self.get("direction").unwrap_or_default()
            ))),
        }
    }
}

/// Float seconds (`15`, `0.5`) or a Prometheus duration (`15s`, `1500ms`), in nanoseconds.
pub fn parse_seconds_or_duration(v: &str) -> Option<i64> {
    if let Ok(f) = v.parse::<f64>() {
        return (f.is_finite() && f.abs() < 9e9).then_some((f * 1e9) as i64);
    }
    GoDuration::parse_prometheus(v)
        .ok()
        .map(GoDuration::as_nanos)
}

/// A stream selector for the metadata endpoints: empty or `{}` selects everything. Its
/// regexes compile within `max_regex_bytes` (`limits.max_regex_bytes`).
pub fn selector(
    query: Option<&str>,
    max_regex_bytes: usize,
) -> Result<Vec<LabelMatcher>, ApiError> {
    let Some(q) = query.map(str::trim).filter(|q| !q.is_empty() && *q != "{}") else {
        return Ok(Vec::new());
    };
    let expr = kelp_logql::parse(q).map_err(|e| ApiError::bad(e.to_string()))?;
    match &expr {
        Expr::Log(log) => matchers(&log.selector, max_regex_bytes),
        Expr::Metric(_) => match expr.selectors().first() {
            Some(sel) => matchers(sel, max_regex_bytes),
            None => Ok(Vec::new()),
        },
    }
}

/// LogQL matchers as store matchers, each regex compiled within `max_regex_bytes` (400
/// `invalid stream selector regex …` past it).
pub fn matchers(
    selector: &[Matcher],
    max_regex_bytes: usize,
) -> Result<Vec<LabelMatcher>, ApiError> {
    use kelp_logql::ast::MatchOp as Op;
    selector
        .iter()
        .map(|m| {
            let op = match m.op {
                Op::Eq => MatchOp::Eq,
                Op::Neq => MatchOp::Neq,
                Op::Re => MatchOp::Re,
                Op::Nre => MatchOp::NotRe,
            };
            LabelMatcher::with_regex_limit(&m.name, op, &m.value, max_regex_bytes).map_err(|e| {
                match e {
                    kelp_store::StoreError::InvalidQuery(m) => ApiError::bad(m),
                    e => ApiError::bad(e.to_string()),
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(q: &str) -> Params {
        Params::new(Some(q), &HeaderMap::new(), b"")
    }

    #[test]
    fn steps_and_defaults() {
        let s = Timestamp::from_unix_secs(0);
        let e = Timestamp::from_unix_secs(3600);
        assert_eq!(p("").step(s, e).unwrap(), Duration::from_secs(14));
        assert_eq!(
            p("step=0.5").step(s, e).unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            p("step=1500ms").step(s, e).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(p("step=15").step(s, e).unwrap(), Duration::from_secs(15));
        assert!(p("step=0").step(s, e).is_err());
        assert!(p("step=x").step(s, e).is_err());
        assert_eq!(p("").interval().unwrap(), Duration::ZERO);
        assert_eq!(
            p("interval=0.5").interval().unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(
            p("interval=1m").interval().unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            p("interval=-1").interval().unwrap_err().to_string(),
            "interval must be >= 0"
        );
    }

    #[test]
    fn bounds_limit_direction() {
        let (s, e) = p("start=1700000000&end=1700000060")
            .bounds(Duration::from_secs(3600))
            .unwrap();
        assert_eq!(
            (s.as_unix_nanos(), e.as_unix_nanos()),
            (1_700_000_000_000_000_000, 1_700_000_060_000_000_000)
        );
        let (s, e) = p("end=1700000060&since=1m")
            .bounds(Duration::from_secs(3600))
            .unwrap();
        assert_eq!(e.as_unix_nanos() - s.as_unix_nanos(), 60_000_000_000);
        assert!(p("start=10&end=5").bounds(Duration::from_secs(1)).is_err());
        assert_eq!(p("").limit().unwrap(), 100);
        assert!(p("limit=0").limit().is_err());
        assert_eq!(
            p("direction=FORWARD").direction().unwrap(),
            Direction::Forward
        );
        assert!(p("direction=up").direction().is_err());
        let m = p("match[]=a&match=b&match[]=c");
        assert_eq!(m.all("match[]").collect::<Vec<_>>(), ["a", "c"]);
    }

    #[test]
    fn selectors() {
        assert!(selector(Some("{}"), 1 << 20).unwrap().is_empty());
        assert!(selector(None, 1 << 20).unwrap().is_empty());
        assert_eq!(selector(Some(r#"{app="x"}"#), 1 << 20).unwrap().len(), 1);
        assert!(selector(Some("{app="), 1 << 20).is_err());
        // Issue #9: a selector's regex is capped like a line filter's.
        let e = selector(Some(r#"{app=~"(a{100}){100}"}"#), 4096).unwrap_err();
        let (status, message) = e.status_and_message();
        assert_eq!(status.as_u16(), 400);
        assert!(
            message.starts_with(r#"invalid stream selector regex "(a{100}){100}": "#)
                && message.contains("exceeds size limit"),
            "{message}"
        );
        assert_eq!(
            selector(Some(r#"{app=~"(a{100}){100}"}"#), 1 << 20)
                .unwrap()
                .len(),
            1
        );
    }
}
