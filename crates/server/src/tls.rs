//! TLS with rustls (ring provider): the server's certificate and key, and optionally a
//! client CA whose certificates every client must present (mutual TLS).
//!
//! [`TlsFiles`] reads the PEM files and keeps the `rustls::ServerConfig` built from them;
//! [`TlsFiles::reload`] rebuilds it when any file's content changed (a renewed
//! certificate, cert-manager's Secret update), so new connections use the new
//! certificate without a restart; connections already open keep theirs. A file that
//! cannot be read or does not parse keeps the previous configuration in force (and says
//! why). [`TlsListener`] is an `axum::serve::Listener`: it accepts TCP connections and
//! runs each handshake in its own task (with a timeout), so a slow client never holds up
//! the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsSection;
use crate::error::ConfigError;

/// How long a client has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The certificate, key and client CA files, and the configuration built from them.
#[derive(Debug)]
pub struct TlsFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    current: RwLock<(Vec<u8>, Arc<ServerConfig>)>,
}

impl TlsFiles {
    /// Reads the files named by `section`; `None` when TLS is off (no `cert_file`).
    pub fn open(section: &TlsSection) -> Result<Option<Self>, ConfigError> {
        let (Some(cert), Some(key)) = (&section.cert_file, &section.key_file) else {
            return Ok(None);
        };
        let client_ca = section.client_ca_file.clone();
        let (bytes, config) = build(cert, key, client_ca.as_deref())
            .map_err(|reason| ConfigError::Invalid { key: "tls", reason })?;
        Ok(Some(Self {
            cert: cert.clone(),
            key: key.clone(),
            client_ca,
            current: RwLock::new((bytes, Arc::new(config))),
        }))
    }

    /// The configuration in force.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }

    /// Re-reads the files; changed and valid, they replace the configuration. Returns
    /// whether it changed; an error leaves the previous one in force.
    pub fn reload(&self) -> Result<bool, String> {
        let bytes = read_all(&self.cert, &self.key, self.client_ca.as_deref())?;
        if self.current.read().unwrap_or_else(|e| e.into_inner()).0 == bytes {
            return Ok(false);
        }
        let (bytes, config) = build(&self.cert, &self.key, self.client_ca.as_deref())?;
        tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = (bytes, Arc::new(config));
        Ok(true)
    }
}

/// Every file's bytes, one after the other (what a change is told by).
fn read_all(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for p in [Some(cert), Some(key), client_ca].into_iter().flatten() {
        let b = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
        out.extend_from_slice(&b);
    }
    Ok(out)
}

/// The server configuration from the PEM files: the certificate chain, its key, and the
/// CA that signs client certificates (then required) when given.
fn build(
    cert: &Path,
    key_file: &Path,
    client_ca: Option<&Path>,
) -> Result<(Vec<u8>, ServerConfig), String> {
    let bytes = read_all(cert, key_file, client_ca)?;
    let certs = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("{}: no private key: {e}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs_of(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("{}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key_file.display()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((bytes, config))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let v = certs_of(path)?;
    if v.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(v)
}

fn certs_of(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Accepts TLS connections for `axum::serve`: handshakes run in tasks of their own.
#[derive(Debug)]
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `tcp` with the configuration `files` holds at each accept.
    pub fn new(tcp: TcpListener, files: Arc<TlsFiles>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(accept_loop(tcp, files, tx));
        Ok(Self { rx, local })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    files: Arc<TlsFiles>,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            a = tcp.accept() => a,
            // The server stopped accepting (graceful shutdown): let the port go.
            _ = tx.closed() => return,
        };
        let (stream, addr) = match accepted {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = TlsAcceptor::from(files.current());
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, addr)).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop ends only once this receiver is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
