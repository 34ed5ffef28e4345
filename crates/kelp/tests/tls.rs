//! HTTPS end to end (issue #9, point 2): `kelp server` with a certificate, mutual TLS and
//! tokens; `kelp agent` ships a simulated node over `https://` with its client
//! certificate; `kelp query` and the CLI's tail WebSocket (`wss://`) read it back with the
//! CA file; without the CA or the client certificate nothing gets through.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::common::{kelp, spawn_announcing};

const WRITE: &str = "agent-write-token-0123456789";
const READ: &str = "reader-token-0123456789abcd";

/// A CA, and leaves it signs, written as PEM files in `dir`.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
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

    fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap();
    }

    fn leaf(&self, dir: &Path, name: &str, usage: ExtendedKeyUsagePurpose) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.subject_alt_names
            .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
        p.distinguished_name.push(DnType::CommonName, name);
        p.extended_key_usages = vec![usage];
        let c = p.signed_by(&key, &self.cert, &self.key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), c.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}-key.pem")), key.serialize_pem()).unwrap();
    }
}

#[test]
fn agent_and_cli_over_https_with_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, clients) = (Ca::new("kelp CA"), Ca::new("kelp clients"));
    ca.write(&d.join("ca.pem"));
    clients.write(&d.join("client-ca.pem"));
    ca.leaf(d, "server", ExtendedKeyUsagePurpose::ServerAuth);
    clients.leaf(d, "client", ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(
        d.join("tokens.yaml"),
        format!(
            "- {{token: {WRITE}, tenant: t, rights: [write]}}\n- {{token: {READ}, tenant: t, rights: [read]}}\n"
        ),
    )
    .unwrap();
    std::fs::write(d.join("agent-token"), WRITE).unwrap();
    let p = |name: &str| d.join(name).to_string_lossy().into_owned();
    let mut cmd = kelp();
    cmd.args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(d.join("data"))
        .env("KELP_SERVER_TLS__CERT_FILE", p("server.pem"))
        .env("KELP_SERVER_TLS__KEY_FILE", p("server-key.pem"))
        .env("KELP_SERVER_TLS__CLIENT_CA_FILE", p("client-ca.pem"))
        .env("KELP_SERVER_AUTH__TOKENS_FILE", p("tokens.yaml"));
    let (mut server, url) = spawn_announcing(cmd, "kelp server listening on ");
    let url = url.replace("http://", "https://");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // The CLI with the CA, the client certificate and the read token.
    let cli = |args: &[&str], tls: bool| {
        let mut c = kelp();
        c.args(args).args(["--server", &url]).env("HOME", d);
        for v in [
            "KELP_TOKEN",
            "KELP_CA_FILE",
            "KELP_CERT_FILE",
            "KELP_KEY_FILE",
        ] {
            c.env_remove(v);
        }
        c.env("KELP_TOKEN", READ);
        if tls {
            c.env("KELP_CA_FILE", p("ca.pem"))
                .env("KELP_CERT_FILE", p("client.pem"))
                .env("KELP_KEY_FILE", p("client-key.pem"));
        }
        c.output().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cli(&["labels"], true).status.success() {
        assert!(
            Instant::now() < deadline,
            "server never answered over HTTPS"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without the CA the server's certificate is refused (Mozilla roots only).
    let refused = cli(&["labels"], false);
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr).to_lowercase();
    assert!(why.contains("certificate") || why.contains("tls"), "{why}");

    let root = d.join("node");
    let ledger = d.join("ledger.jsonl");
    let sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args([
            "--pods",
            "3",
            "--rate",
            "300",
            "--duration",
            "2",
            "--seed",
            "9",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(sim.success());
    let lines = kelp_sim::verify::read_ledger(&ledger).unwrap().len();
    let agent = |with_cert: bool| {
        let mut a = kelp();
        a.arg("agent")
            .arg("--pods-dir")
            .arg(root.join("var/log/pods"))
            .arg("--state-dir")
            .arg(d.join(if with_cert { "agent" } else { "agent-nocert" }))
            .args([
                "--server",
                &url,
                "--node-name",
                "node-1",
                "--listen",
                "none",
            ])
            .args(["--token-file", &p("agent-token"), "--ca-file", &p("ca.pem")]);
        if with_cert {
            a.args([
                "--cert-file",
                &p("client.pem"),
                "--key-file",
                &p("client-key.pem"),
            ]);
        }
        a.env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let stored = || {
        let out = cli(
            &[
                "query",
                "--since",
                "1h",
                "--limit",
                "5000",
                "-o",
                "json",
                "{node=\"node-1\"}",
            ],
            true,
        );
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["values"].as_array().unwrap().len())
            .sum::<usize>()
    };
    // An agent without a client certificate ships nothing.
    let mut no_cert = agent(false);
    std::thread::sleep(Duration::from_secs(2));
    no_cert.kill().unwrap();
    no_cert.wait().unwrap();
    assert_eq!(stored(), 0);
    // With it, everything arrives exactly once.
    let mut shipper = agent(true);
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored() < lines {
        assert!(
            Instant::now() < deadline,
            "only {} of {lines} lines shipped",
            stored()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(stored(), lines);
    shipper.kill().unwrap();
    shipper.wait().unwrap();

    // The tail WebSocket over TLS: its look-back frame holds lines of the node.
    let settings = kelp_cli::config::Resolved {
        server: url.clone(),
        tenant: None,
        token: Some(READ.into()),
        tls: kelp_client::TlsOptions {
            ca_file: Some(d.join("ca.pem")),
            cert_file: Some(d.join("client.pem")),
            key_file: Some(d.join("client-key.pem")),
        },
    };
    let start = kelp_model::Timestamp::now().as_unix_nanos() - 3_600_000_000_000;
    let (_socket, early) =
        kelp_cli::tail::TailSocket::connect(&settings, "{node=\"node-1\"}", start, 10).unwrap();
    assert_eq!(early.len(), 10, "{early:?}");
    let mut no_ca = settings.clone();
    no_ca.tls.ca_file = None;
    assert!(kelp_cli::tail::TailSocket::connect(&no_ca, "{node=\"node-1\"}", start, 10).is_err());
    server.kill().unwrap();
    server.wait().unwrap();
}
