//! Requests to the Kubernetes API: one `ureq` agent with the API server's CA, the bearer
//! token read again for every request (the kubelet rotates projected tokens), JSON in and
//! out, statuses returned rather than turned into errors (the callers decide what a 404,
//! 409 or 410 means).

use std::sync::Arc;
use std::time::Duration;

use super::KubeConfig;
use crate::AgentError;

/// A failed request, or an answer that makes no sense.
#[derive(Debug)]
pub(crate) struct Failed(pub String);

/// The API server of a [`KubeConfig`].
#[derive(Clone)]
pub(crate) struct Api {
    base: String,
    token_file: Option<std::path::PathBuf>,
    agent: ureq::Agent,
}

impl Api {
    /// A client for `config`'s API server; reads the CA bundle. A response body may take
    /// up to `body_timeout` (a watch's length plus a margin).
    pub(crate) fn new(config: &KubeConfig, body_timeout: Duration) -> Result<Api, AgentError> {
        Api::build(config, body_timeout, None)
    }

    /// A client whose every request ends within `limit` (the Lease's: a holder must know
    /// in time that it could not renew).
    pub(crate) fn bounded(config: &KubeConfig, limit: Duration) -> Result<Api, AgentError> {
        Api::build(config, limit, Some(limit))
    }

    fn build(
        config: &KubeConfig,
        body_timeout: Duration,
        global: Option<Duration>,
    ) -> Result<Api, AgentError> {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(global)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(body_timeout));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca).map_err(|source| AgentError::Io {
                path: ca.clone(),
                source,
            })?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(AgentError::Config(format!("{}: {e}", ca.display())));
                    }
                }
            }
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        }
        Ok(Api {
            base: config.api_server.clone(),
            token_file: config.token_file.clone(),
            agent: builder.build().into(),
        })
    }

    fn token(&self) -> Result<Option<String>, Failed> {
        match &self.token_file {
            None => Ok(None),
            Some(file) => std::fs::read_to_string(file)
                .map(|t| Some(format!("Bearer {}", t.trim())))
                .map_err(|e| Failed(format!("{}: {e}", file.display()))),
        }
    }

    /// `GET <path_and_query>`.
    pub(crate) fn get(
        &self,
        path_and_query: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, Failed> {
        let url = format!("{}{path_and_query}", self.base);
        let mut req = self.agent.get(&url).header("Accept", "application/json");
        if let Some(t) = self.token()? {
            req = req.header("Authorization", t);
        }
        req.call().map_err(|e| Failed(format!("GET {url}: {e}")))
    }

    /// `POST` or `PUT` of a JSON body; the status and the answer's JSON (`null` when it is
    /// not JSON).
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(u16, serde_json::Value), Failed> {
        let url = format!("{}{path}", self.base);
        let body = body.to_string();
        let mut req = match method {
            "POST" => self.agent.post(&url),
            _ => self.agent.put(&url),
        }
        .header("Accept", "application/json")
        .header("Content-Type", "application/json");
        if let Some(t) = self.token()? {
            req = req.header("Authorization", t);
        }
        let resp = req
            .send(body.as_bytes())
            .map_err(|e| Failed(format!("{method} {url}: {e}")))?;
        let status = resp.status().as_u16();
        let answer = read_json(resp)?;
        Ok((status, answer))
    }

    /// `GET` of one object: its status and JSON.
    pub(crate) fn get_json(&self, path: &str) -> Result<(u16, serde_json::Value), Failed> {
        let resp = self.get(path)?;
        let status = resp.status().as_u16();
        Ok((status, read_json(resp)?))
    }
}

fn read_json(resp: ureq::http::Response<ureq::Body>) -> Result<serde_json::Value, Failed> {
    let mut body = resp.into_body();
    let text = body
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .map_err(|e| Failed(format!("reading an answer: {e}")))?;
    Ok(serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
}
