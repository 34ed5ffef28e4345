//! The connection config file: `--config`, else `$KELP_CONFIG`, else
//! `$XDG_CONFIG_HOME/kelp/config.yaml` (`~/.config/kelp/config.yaml`).
//!
//! ```yaml
//! server: http://kelp.example:3100   # used when no context is chosen
//! tenant: team-a
//! token: s3cret
//! ca_file: /etc/kelp/ca.pem          # https:// servers signed by a private CA
//! cert_file: ~/.kelp/me.pem          # mutual TLS: the client certificate and its key
//! key_file: ~/.kelp/me-key.pem
//! current-context: prod              # optional
//! contexts:
//!   prod: {server: "http://kelp.prod:3100", tenant: prod}
//!   dev:  {server: "http://127.0.0.1:3100"}
//! ```
//!
//! A context (`--context`, else `$KELP_CONTEXT`, else `current-context`) overrides the
//! top-level values it sets. Each setting is taken from its flag, else its environment
//! variable, else the file, else the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::ConnArgs;

/// The local server, when nothing says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:3100";

/// Connection settings of the file or of one context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The server's base URL.
    pub server: Option<String>,
    /// The tenant (`X-Scope-OrgID`).
    pub tenant: Option<String>,
    /// A bearer token.
    pub token: Option<String>,
    /// PEM file of the CA that signs an `https://` server's certificate.
    pub ca_file: Option<String>,
    /// PEM client certificate, for servers that require mutual TLS.
    pub cert_file: Option<String>,
    /// PEM key of the client certificate.
    pub key_file: Option<String>,
}

/// The config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Defaults for every context.
    #[serde(flatten)]
    pub defaults: Settings,
    /// The context used when none is named.
    pub current_context: Option<String>,
    /// Named contexts.
    #[serde(default)]
    pub contexts: BTreeMap<String, Settings>,
}

/// The settings to connect with, every source applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The server's base URL.
    pub server: String,
    /// The tenant, if any.
    pub tenant: Option<String>,
    /// The token, if any.
    pub token: Option<String>,
    /// CA file and client certificate for `https://`.
    pub tls: kelp_client::TlsOptions,
}

impl Resolved {
    /// The headers every request carries: `X-Scope-OrgID`, `Authorization`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(t) = &self.tenant {
            h.push(("X-Scope-OrgID", t.clone()));
        }
        if let Some(t) = &self.token {
            h.push(("Authorization", format!("Bearer {t}")));
        }
        h
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where the config file is, and whether it was asked for (then it must exist).
fn location(args: &ConnArgs) -> Option<(PathBuf, bool)> {
    if let Some(p) = &args.config {
        return Some((p.clone(), true));
    }
    if let Some(p) = env("KELP_CONFIG") {
        return Some((PathBuf::from(p), true));
    }
    let base = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some((base.join("kelp").join("config.yaml"), false))
}

/// Reads the config file at `path`.
pub fn read(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    serde_yaml_ng::from_str(&text)
        .with_context(|| format!("the config file {} is not valid", path.display()))
}

/// Applies flags, then the environment, then the config file, then the defaults.
pub fn resolve(args: &ConnArgs) -> anyhow::Result<Resolved> {
    let file = match location(args) {
        Some((path, required)) => match read(&path) {
            Ok(f) => Some(f),
            Err(_) if !required && !path.exists() => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let file = file.unwrap_or_default();
    let context = args
        .context
        .clone()
        .or_else(|| env("KELP_CONTEXT"))
        .or_else(|| file.current_context.clone());
    let chosen = match &context {
        None => Settings::default(),
        Some(name) => match file.contexts.get(name) {
            Some(s) => s.clone(),
            None => {
                let known: Vec<&str> = file.contexts.keys().map(String::as_str).collect();
                bail!(
                    "context {name:?} is not in the config file (contexts: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                );
            }
        },
    };
    let pick = |flag: &Option<String>, var: &str, ctx: &Option<String>, top: &Option<String>| {
        flag.clone()
            .or_else(|| env(var))
            .or_else(|| ctx.clone())
            .or_else(|| top.clone())
    };
    let d = &file.defaults;
    Ok(Resolved {
        server: pick(&args.server, "KELP_SERVER", &chosen.server, &d.server)
            .unwrap_or_else(|| DEFAULT_SERVER.into()),
        tenant: pick(&args.tenant, "KELP_TENANT", &chosen.tenant, &d.tenant),
        token: pick(&args.token, "KELP_TOKEN", &chosen.token, &d.token),
        tls: kelp_client::TlsOptions {
            ca_file: pick(&args.ca_file, "KELP_CA_FILE", &chosen.ca_file, &d.ca_file)
                .map(PathBuf::from),
            cert_file: pick(
                &args.cert_file,
                "KELP_CERT_FILE",
                &chosen.cert_file,
                &d.cert_file,
            )
            .map(PathBuf::from),
            key_file: pick(
                &args.key_file,
                "KELP_KEY_FILE",
                &chosen.key_file,
                &d.key_file,
            )
            .map(PathBuf::from),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_override_the_top_level() {
        let f: ConfigFile = serde_yaml_ng::from_str(
            "server: http://a:1\ntenant: t\ncurrent-context: dev\ncontexts:\n  dev: {server: 'http://b:2'}\n",
        )
        .unwrap();
        assert_eq!(f.defaults.server.as_deref(), Some("http://a:1"));
        assert_eq!(f.contexts["dev"].server.as_deref(), Some("http://b:2"));
        assert!(serde_yaml_ng::from_str::<ConfigFile>("sever: x\n").is_err());
    }
}
