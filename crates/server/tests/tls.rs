//! HTTPS with real sockets on 127.0.0.1 (issue #9, point 2): push and query with the CA,
//! refusal without it, mutual TLS required and refused, and a renewed certificate picked
//! up by new connections without a restart. Certificates are made by rcgen.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::support::{enc, now_ns, push_json};

/// A certificate authority.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        Self { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A leaf for `localhost` and 127.0.0.1: (certificate PEM, key PEM).
    pub fn leaf(&self, cn: &str, server: bool) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let c = p.signed_by(&key, &self.cert, &self.key).unwrap();
        (c.pem(), key.serialize_pem())
    }
}

/// A TLS server on a random port; stops (and closes its store) when dropped.
struct TlsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _data: tempfile::TempDir,
}

impl TlsServer {
    fn start(dir: &Path, mtls: bool) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut yaml = format!(
            "tls: {{cert_file: {}, key_file: {}",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        );
        if mtls {
            yaml += &format!(", client_ca_file: {}", dir.join("client-ca.pem").display());
        }
        yaml += "}";
        let mut config = kelp_server::ServerConfig::from_yaml(&yaml, []).unwrap();
        config.data_dir = data.path().to_path_buf();
        let (addr, stop, thread) = crate::support::spawn(config);
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            _data: data,
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one HTTPS request gave: the status and body, and the server's certificate.
struct Answer {
    status: u16,
    body: String,
    server_cert: Vec<u8>,
}

/// One HTTPS request trusting `ca_pem`, presenting `client` (cert, key) when given.
fn https(
    addr: SocketAddr,
    ca_pem: &str,
    client: Option<&(String, String)>,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Answer, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect(),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(|e| e.to_string())?;
    s.write_all(body).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    if let Err(e) = s.read_to_end(&mut raw) {
        // A server that closes without close_notify after a whole answer is fine.
        if raw.is_empty() || e.kind() != std::io::ErrorKind::UnexpectedEof {
            return Err(e.to_string());
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    let server_cert = s
        .conn
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    Ok(Answer {
        status,
        body,
        server_cert,
    })
}

/// Waits until the server answers `/ready` over HTTPS.
fn ready(addr: SocketAddr, ca: &str, client: Option<&(String, String)>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(a) = https(addr, ca, client, "GET", "/ready", b"") {
            if a.status == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "never ready over HTTPS");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write_server_files(dir: &Path, ca: &Ca, cn: &str) -> String {
    let (cert, key) = ca.leaf(cn, true);
    // Each file replaced by a rename, as Kubernetes swaps a Secret's files.
    std::fs::write(dir.join("key.pem.tmp"), &key).unwrap();
    std::fs::write(dir.join("cert.pem.tmp"), &cert).unwrap();
    std::fs::rename(dir.join("key.pem.tmp"), dir.join("key.pem")).unwrap();
    std::fs::rename(dir.join("cert.pem.tmp"), dir.join("cert.pem")).unwrap();
    cert
}

#[test]
fn https_push_and_query_with_the_ca_and_refusal_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("kelp test CA");
    write_server_files(dir.path(), &ca, "kelp server");
    let s = TlsServer::start(dir.path(), false);
    ready(s.addr, &ca.pem(), None);
    let body = push_json(r#"{"app":"tls"}"#, now_ns(), &["over https"]);
    let a = https(s.addr, &ca.pem(), None, "POST", "/loki/api/v1/push", &body).unwrap();
    assert_eq!(a.status, 204, "{}", a.body);
    let q = format!("/loki/api/v1/query_range?query={}", enc(r#"{app="tls"}"#));
    let a = https(s.addr, &ca.pem(), None, "GET", &q, b"").unwrap();
    assert_eq!(a.status, 200);
    assert!(a.body.contains("over https"), "{}", a.body);
    // A client that trusts another CA refuses the server.
    let other = Ca::new("another CA");
    let e = https(s.addr, &other.pem(), None, "GET", "/ready", b"")
        .err()
        .unwrap();
    assert!(e.contains("certificate"), "{e}");
    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut tcp = TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    tcp.write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    assert!(!raw.starts_with(b"HTTP/1.1 200"), "{raw:?}");
}

#[test]
fn mutual_tls_requires_a_client_certificate_of_the_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("kelp test CA");
    let clients = Ca::new("kelp clients");
    write_server_files(dir.path(), &ca, "kelp server");
    std::fs::write(dir.path().join("client-ca.pem"), clients.pem()).unwrap();
    let s = TlsServer::start(dir.path(), true);
    let good = clients.leaf("agent", false);
    ready(s.addr, &ca.pem(), Some(&good));
    let a = https(
        s.addr,
        &ca.pem(),
        Some(&good),
        "GET",
        "/loki/api/v1/labels",
        b"",
    )
    .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    // No client certificate, or one of another CA: the handshake fails.
    assert!(https(s.addr, &ca.pem(), None, "GET", "/ready", b"").is_err());
    let stranger = Ca::new("stranger").leaf("agent", false);
    assert!(https(s.addr, &ca.pem(), Some(&stranger), "GET", "/ready", b"").is_err());
}

#[test]
fn a_renewed_certificate_is_served_to_new_connections_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("kelp test CA");
    let first = write_server_files(dir.path(), &ca, "first");
    let s = TlsServer::start(dir.path(), false);
    ready(s.addr, &ca.pem(), None);
    let der = |pem: &str| {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    };
    let a = https(s.addr, &ca.pem(), None, "GET", "/ready", b"").unwrap();
    assert_eq!(a.server_cert, der(&first));
    let renewed = write_server_files(dir.path(), &ca, "renewed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = https(s.addr, &ca.pem(), None, "GET", "/ready", b"").unwrap();
        assert_eq!(a.status, 200);
        if a.server_cert == der(&renewed) {
            break;
        }
        assert_eq!(a.server_cert, der(&first));
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
