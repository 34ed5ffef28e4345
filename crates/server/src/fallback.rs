//! Replicas that did not answer, read from the shared bucket (issue #11).
//!
//! With `storage:` set, every replica's closed segments are in one bucket under
//! `replicas/<name>/`. A peer names itself in every answer ([`REPLICA_HEADER`]), so after
//! a read's fan-out the asker knows which replica names answered; every other name with a
//! manifest in the bucket (a replica that is down, unreachable, or gone for good after a
//! scale-down) is read from the bucket through a read-only view of its data
//! (`kelp_store::Store::open_replica`, sharing this replica's page cache), and merged
//! with the same deduplication as peer answers. What that replica held only in its head
//! and WAL is missing until it is back; the answer says so in its warnings.
//!
//! When every replica answered, nothing more is done (the listing of names is cached).
//! The listing and each view's manifest are reloaded at most every [`REFRESH`], not per
//! query.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kelp_store::Store;

use crate::error::ApiError;
use crate::peers::Answers;
use crate::routes::blocking;
use crate::state::AppState;

/// In every answer of a replica with a bucket: its replica name.
pub const REPLICA_HEADER: &str = "x-kelp-replica";
/// In merged answers: the replicas read from the bucket instead, comma-separated.
pub const BUCKET_HEADER: &str = "x-kelp-bucket-replicas";

/// How old the bucket listing and a view's manifest may be before they are read again.
pub const REFRESH: Duration = Duration::from_secs(3);

/// A replica that could not be read from the bucket, and why.
type Failure = (String, String);

/// The bucket listing and the open views, cached.
#[derive(Debug, Default)]
pub struct BucketViews {
    names: Mutex<Option<(Instant, Vec<String>)>>,
    views: Mutex<HashMap<String, (Instant, Arc<Store>)>>,
}

impl BucketViews {
    /// The replica names in the bucket other than `own`'s (listed again when older than
    /// [`REFRESH`]).
    fn names(&self, own: &Store) -> kelp_store::Result<Vec<String>> {
        let mut cached = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, names)) = &*cached {
            if at.elapsed() < REFRESH {
                return Ok(names.clone());
            }
        }
        let names = own.bucket_replicas()?;
        *cached = Some((Instant::now(), names.clone()));
        Ok(names)
    }

    /// The view of replica `name`, opened or refreshed when older than [`REFRESH`].
    fn view(&self, own: &Store, name: &str) -> kelp_store::Result<Arc<Store>> {
        let mut views = self.views.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, view)) = views.get_mut(name) {
            if at.elapsed() >= REFRESH {
                view.refresh()?;
                *at = Instant::now();
            }
            return Ok(view.clone());
        }
        let view = Arc::new(own.open_replica(name)?);
        views.insert(name.to_owned(), (Instant::now(), view.clone()));
        Ok(view)
    }

    /// Whether a fresh listing shows every replica in the bucket among `answered` (then
    /// nothing is read, without leaving the async task; views no longer needed close).
    fn all_answered(&self, answered: &[String]) -> bool {
        let all = {
            let cached = self.names.lock().unwrap_or_else(|p| p.into_inner());
            cached.as_ref().is_some_and(|(at, names)| {
                at.elapsed() < REFRESH && names.iter().all(|n| answered.contains(n))
            })
        };
        if all {
            self.views.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        all
    }

    /// Views of every replica in the bucket that is neither this one nor named in
    /// `answered`; a replica that cannot be read is returned in the second list with the
    /// reason. Views of replicas that answered again are closed.
    fn unanswered(
        &self,
        own: &Store,
        answered: &[String],
    ) -> (Vec<(String, Arc<Store>)>, Vec<Failure>) {
        self.views
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|name, _| !answered.contains(name));
        let names = match self.names(own) {
            Ok(n) => n,
            Err(e) => return (Vec::new(), vec![("(bucket)".to_owned(), e.to_string())]),
        };
        let (mut views, mut failed) = (Vec::new(), Vec::new());
        for name in names.into_iter().filter(|n| !answered.contains(n)) {
            match self.view(own, &name) {
                Ok(v) => views.push((name, v)),
                Err(e) => failed.push((name, e.to_string())),
            }
        }
        (views, failed)
    }
}

/// Reads the replicas the fan-out left unanswered from the bucket: `read` runs on the
/// blocking pool for each one's view; their names (or failures) are recorded in
/// `answers`. Nothing happens without a bucket, or when every replica answered.
pub async fn read<T: Send + 'static>(
    st: &AppState,
    answers: &mut Answers,
    read: impl Fn(&Arc<Store>) -> Result<T, ApiError> + Send + 'static,
) -> Result<Vec<T>, ApiError> {
    let own = st.store()?.clone();
    if own.replica().is_none() {
        return Ok(Vec::new());
    }
    let answered = answers.answered();
    if st.bucket_views.all_answered(&answered) {
        return Ok(Vec::new());
    }
    let st2 = st.clone();
    let (found, failed) = blocking(move || {
        let (views, failed) = st2.bucket_views.unanswered(&own, &answered);
        let mut found = Vec::new();
        let mut failed = failed;
        for (name, view) in views {
            match read(&view) {
                Ok(t) => found.push((name, t)),
                Err(e) => failed.push((name, e.to_string())),
            }
        }
        Ok((found, failed))
    })
    .await?;
    let mut out = Vec::with_capacity(found.len());
    for (name, t) in found {
        answers.from_bucket.push(name);
        out.push(t);
    }
    for (name, why) in failed {
        answers.bucket_failed.push((name, why));
    }
    Ok(out)
}
