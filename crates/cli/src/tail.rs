//! A client of the server's live tail, `GET /loki/api/v1/tail` (a WebSocket; Loki API
//! spec §5), blocking, on `tungstenite` over a `TcpStream`, or over TLS (kelp-client's
//! rustls settings) for `https://` servers.
//!
//! [`TailSocket::connect`] returns once the server is subscribed to new entries: the
//! server subscribes before it computes the look-back frame and pings right after
//! sending it, so the first ping proves that every entry stored from then on will come
//! through the socket. A caller that then reads what was stored before with
//! `query_range` misses nothing. No frame and no ping for [`SILENCE`] (the server pings
//! every second) means the connection is dead.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Message, WebSocket};

use crate::config::Resolved;
use crate::{string_map, LogLine};

/// How long a connection may stay silent before it is given up.
pub const SILENCE: Duration = Duration::from_secs(5);

/// What one frame brought.
#[derive(Debug, Default)]
pub struct Frame {
    /// The entries, oldest first.
    pub lines: Vec<LogLine>,
    /// Entries the server dropped because this client was too slow.
    pub dropped: usize,
}

/// The connection under the WebSocket.
enum Stream {
    Plain(TcpStream),
    Tls(Box<kelp_client::TlsStream>),
}

impl std::io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// An open tail WebSocket.
pub struct TailSocket {
    ws: WebSocket<Stream>,
}

impl std::fmt::Debug for TailSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TailSocket")
    }
}

/// `ws://host:port/prefix` (`wss://` for `https://`) and `host:port` of a base URL.
fn ws_base(server: &str) -> anyhow::Result<(String, String)> {
    let server_t = server.trim_end_matches('/');
    let (scheme, rest, port) = if let Some(r) = server_t.strip_prefix("http://") {
        ("ws", r, 80)
    } else if let Some(r) = server_t.strip_prefix("https://") {
        ("wss", r, 443)
    } else {
        bail!("{server}: only http:// and https:// servers are supported")
    };
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        bail!("{server}: no host");
    }
    let addr = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    Ok((format!("{scheme}://{rest}"), addr))
}

impl TailSocket {
    /// Opens a tail of `query` with the look-back starting at `start` (Unix ns) and at
    /// most `limit` look-back entries; returns once the server is subscribed, with the
    /// entries received until then.
    pub fn connect(
        settings: &Resolved,
        query: &str,
        start: i64,
        limit: usize,
    ) -> anyhow::Result<(Self, Vec<LogLine>)> {
        let (base, addr) = ws_base(&settings.server)?;
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("query", query)
            .append_pair("start", &start.to_string())
            .append_pair("limit", &limit.to_string());
        let url = format!("{base}/loki/api/v1/tail?{}", q.finish());
        let mut req = url
            .as_str()
            .into_client_request()
            .with_context(|| format!("bad tail URL {url}"))?;
        for (name, value) in settings.headers() {
            req.headers_mut().insert(
                name,
                HeaderValue::from_str(&value).context("a header value is not valid")?,
            );
        }
        let stream = TcpStream::connect(&addr).with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(SILENCE))?;
        stream.set_write_timeout(Some(SILENCE))?;
        let stream = if base.starts_with("wss://") {
            let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
            Stream::Tls(Box::new(settings.tls.connect(host, stream)?))
        } else {
            Stream::Plain(stream)
        };
        let (ws, _) = tungstenite::client(req, stream).map_err(|e| match e {
            tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                    .unwrap_or_default();
                anyhow!("tail: the server answered {}: {body}", resp.status())
            }
            other => anyhow!("tail: {other}"),
        })?;
        let mut socket = Self { ws };
        let mut early = Vec::new();
        let deadline = Instant::now() + SILENCE;
        loop {
            match socket.read()? {
                Read::Frame(f) => early.extend(f.lines),
                Read::Ping => return Ok((socket, early)),
                Read::Closed(why) => bail!("tail closed: {why}"),
            }
            if Instant::now() > deadline {
                bail!("tail: the server did not confirm the subscription");
            }
        }
    }

    /// The next frame with entries; an error when the connection closed or went silent.
    pub fn next_frame(&mut self) -> anyhow::Result<Frame> {
        loop {
            match self.read()? {
                Read::Frame(f) => return Ok(f),
                Read::Ping => {}
                Read::Closed(why) => bail!("tail closed: {why}"),
            }
        }
    }

    fn read(&mut self) -> anyhow::Result<Read> {
        let msg = self.ws.read().map_err(|e| match e {
            tungstenite::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                anyhow!("no word from the server for {} s", SILENCE.as_secs())
            }
            other => anyhow!("tail: {other}"),
        })?;
        Ok(match msg {
            Message::Text(t) => Read::Frame(parse_frame(t.as_str())?),
            Message::Binary(b) => Read::Frame(parse_frame(&String::from_utf8_lossy(&b))?),
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Read::Ping,
            Message::Close(c) => Read::Closed(
                c.map(|c| format!("{} {}", u16::from(c.code), c.reason))
                    .unwrap_or_else(|| "no reason".into()),
            ),
        })
    }
}

enum Read {
    Frame(Frame),
    Ping,
    Closed(String),
}

/// A tail message: `{"streams":[{"stream":{..},"values":[[ts, line], ..]}],
/// "dropped_entries":[..]}`.
pub fn parse_frame(text: &str) -> anyhow::Result<Frame> {
    let v: serde_json::Value = serde_json::from_str(text).context("a tail frame is not JSON")?;
    let mut lines = Vec::new();
    for s in v["streams"].as_array().into_iter().flatten() {
        let labels: BTreeMap<String, String> = string_map(&s["stream"]);
        for v in s["values"].as_array().into_iter().flatten() {
            let ts = v[0]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .context("a tail value without a timestamp")?;
            // Categorized frames carry metadata as a third element.
            let mut l = labels.clone();
            if let Some(m) = v.get(2) {
                l.extend(string_map(&m["structuredMetadata"]));
            }
            lines.push(LogLine {
                labels: l,
                ts,
                line: v[1].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    lines.sort_by_key(|l| l.ts);
    Ok(Frame {
        lines,
        dropped: v["dropped_entries"].as_array().map_or(0, Vec::len),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_urls() {
        let f = parse_frame(
            r#"{"streams":[{"stream":{"pod":"p","pod_uid":"u"},"values":[["2","b"],["1","a"]]}],"dropped_entries":[{"labels":{},"timestamp":"3"}]}"#,
        )
        .unwrap();
        assert_eq!(f.lines.len(), 2);
        assert_eq!((f.lines[0].ts, f.lines[0].line.as_str()), (1, "a"));
        assert_eq!(f.lines[0].labels["pod_uid"], "u");
        assert_eq!(f.dropped, 1);
        assert!(parse_frame("nope").is_err());
        assert_eq!(
            ws_base("http://h:1/p/").unwrap(),
            ("ws://h:1/p".into(), "h:1".into())
        );
        assert_eq!(ws_base("http://h").unwrap().1, "h:80");
        assert_eq!(
            ws_base("https://h").unwrap(),
            ("wss://h".into(), "h:443".into())
        );
        assert_eq!(ws_base("https://[::1]:8443").unwrap().1, "[::1]:8443");
        assert!(ws_base("ftp://h").is_err());
    }
}
