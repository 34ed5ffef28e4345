//! TLS for `https://` servers, with rustls (ring): the CA to trust (a file, or the
//! Mozilla roots of `webpki-roots` when none is given) and the certificate a client
//! presents for mutual TLS.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig, TlsProvider};

use crate::ClientError;

/// A blocking TLS connection.
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// Which servers a client trusts and which certificate it presents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM bundle of the CA(s) that sign the server's certificate (unset: the Mozilla
    /// root set).
    pub ca_file: Option<PathBuf>,
    /// The client's certificate chain, PEM, for servers that require mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key, PEM.
    pub key_file: Option<PathBuf>,
}

impl TlsOptions {
    /// Whether anything differs from the defaults.
    pub fn is_default(&self) -> bool {
        self == &Self::default()
    }

    /// The CA certificates, when a file is given.
    fn cas(&self) -> Result<Option<Vec<CertificateDer<'static>>>, ClientError> {
        let Some(p) = &self.ca_file else {
            return Ok(None);
        };
        let v = certs(p)?;
        if v.is_empty() {
            return Err(tls_error(p, "no certificate in the CA file".into()));
        }
        Ok(Some(v))
    }

    /// The client certificate and key, when given (both or neither).
    fn identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, ClientError> {
        match (&self.cert_file, &self.key_file) {
            (None, None) => Ok(None),
            (Some(c), Some(k)) => {
                let chain = certs(c)?;
                if chain.is_empty() {
                    return Err(tls_error(c, "no certificate".into()));
                }
                let key = PrivateKeyDer::from_pem_file(k)
                    .map_err(|e| tls_error(k, format!("no private key: {e}")))?;
                Ok(Some((chain, key)))
            }
            (Some(p), None) | (None, Some(p)) => Err(tls_error(
                p,
                "a client certificate needs both its certificate and key files".into(),
            )),
        }
    }

    /// The configuration of `ureq`'s rustls connector.
    pub fn ureq_config(&self) -> Result<TlsConfig, ClientError> {
        let mut b = TlsConfig::builder().provider(TlsProvider::Rustls);
        if let Some(cas) = self.cas()? {
            let certs: Vec<Certificate<'static>> = cas
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            b = b.root_certs(RootCerts::new_with_certs(&certs));
        }
        if let Some((chain, _)) = self.identity()? {
            let chain: Vec<Certificate<'static>> = chain
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            // `identity` checked the key file; ureq parses it again into its own type.
            let k = self.key_file.as_deref().unwrap_or(Path::new(""));
            let pem = std::fs::read(k).map_err(|e| tls_error(k, e.to_string()))?;
            let key = PrivateKey::from_pem(&pem).map_err(|e| tls_error(k, e.to_string()))?;
            b = b.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        Ok(b.build())
    }

    /// Runs the TLS handshake on `tcp` with the server `host` (a name or an IP address,
    /// as in its URL, without the port); for connections `ureq` does not make (the CLI's
    /// tail WebSocket).
    pub fn connect(&self, host: &str, tcp: TcpStream) -> Result<TlsStream, ClientError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| tls_error(Path::new(host), e.to_string()))?;
        let conn = rustls::ClientConnection::new(self.rustls_config()?, name)
            .map_err(|e| tls_error(Path::new(host), e.to_string()))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        // Finish the handshake now, so a refused certificate is an error here.
        while s.conn.is_handshaking() {
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| tls_error(Path::new(host), e.to_string()))?;
        }
        Ok(s)
    }

    /// A rustls client configuration.
    pub fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        match self.cas()? {
            Some(cas) => {
                for c in cas {
                    roots.add(c).map_err(|e| {
                        tls_error(
                            self.ca_file.as_deref().unwrap_or(Path::new("")),
                            e.to_string(),
                        )
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(Path::new(""), e.to_string()))?
        .with_root_certificates(roots);
        let config = match self.identity()? {
            None => builder.with_no_client_auth(),
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
                tls_error(
                    self.cert_file.as_deref().unwrap_or(Path::new("")),
                    e.to_string(),
                )
            })?,
        };
        Ok(Arc::new(config))
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ClientError> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_error(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, e.to_string()))
}

fn tls_error(path: &Path, reason: String) -> ClientError {
    ClientError::Tls {
        path: path.to_owned(),
        reason,
    }
}
