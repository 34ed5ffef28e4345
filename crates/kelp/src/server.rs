//! `kelp server`: the log store behind Loki's HTTP API (and ES `_bulk`, OTLP, live tail).
//! Everything but flags, logging, the runtime and signals is `kelp-server`'s.

use std::path::PathBuf;

use anyhow::Context;
use kelp_server::ServerConfig;

/// Examples shown by `kelp server --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Serve on 127.0.0.1:3100 with data in ./kelp-data (single tenant \"fake\"):
  kelp server

  # Listen on every interface, keep data elsewhere:
  kelp server --listen 0.0.0.0:3100 --data-dir /var/lib/kelp

  # From a config file, with one key overridden by the environment:
  KELP_SERVER_LIMITS__MAX_LINE_BYTES=1048576 kelp server --config kelp.yaml

  # Bearer tokens and HTTPS: auth.tokens_file, tls.cert_file and tls.key_file in kelp.yaml
  kelp server --config kelp.yaml

Config file keys (all optional): listen, data_dir, auth_enabled, no_auth_tenant,
max_body_bytes, max_decompressed_bytes, discover_service_name, log_level,
shutdown_timeout_secs, store.*, limits.*, elasticsearch.*, auth.tokens_file,
tls.{cert_file, key_file, client_ca_file}; see kelp-server's config.rs and docs/server.md.
The token file and the certificates are re-read when they change and on SIGHUP.
Environment: KELP_SERVER_<KEY>, KELP_SERVER_<SECTION>__<KEY>; RUST_LOG for log filters.
Flags override the file and the environment. SIGTERM or Ctrl-C stops it gracefully.

Point Grafana's Loki data source, logcli, Promtail or Alloy at http://HOST:3100; Fluent Bit,
Filebeat and Vector's Elasticsearch outputs at the same address.";

/// Flags of `kelp server`.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// YAML config file (unknown keys are errors).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the store keeps its data (overrides `data_dir`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on (overrides `listen`), e.g. 127.0.0.1:3100; port 0 picks one.
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let text = match &args.config {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => String::new(),
    };
    let mut config = ServerConfig::from_yaml(&text, std::env::vars())?;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.validate()?;
    init_tracing(&config.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("kelp-server")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let scheme = if config.tls.cert_file.is_some() {
            "https"
        } else {
            "http"
        };
        eprintln!("kelp server listening on {scheme}://{addr}");
        eprintln!("web UI: {scheme}://{addr}/ui/");
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "listening");
        kelp_server::serve(config, listener, signal()).await?;
        anyhow::Ok(())
    })
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Completes on the first SIGTERM or SIGINT.
async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
