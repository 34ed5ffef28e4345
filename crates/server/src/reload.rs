//! Files re-read while the server runs (the token file, TLS certificates): checked every
//! [`EVERY`] and at once on SIGHUP, until shutdown.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// How often watched files are checked for changes.
pub const EVERY: Duration = Duration::from_secs(2);

/// Calls `reload` (on the blocking pool) every [`EVERY`] and on SIGHUP until `stop` turns
/// true. `reload` says whether anything changed, or why the file was not taken (the
/// previous content stays in force).
pub async fn watch<F>(what: &'static str, mut stop: watch::Receiver<bool>, reload: F)
where
    F: Fn() -> Result<bool, String> + Send + Sync + 'static,
{
    let reload = Arc::new(reload);
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<()>();
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = hangup => tracing::info!(what, "SIGHUP: re-reading"),
            _ = stop.wait_for(|s| *s) => return,
        }
        let r = reload.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || r()).await {
            tracing::warn!(what, error = %e, "not reloaded; the previous content stays in force");
        }
    }
}
