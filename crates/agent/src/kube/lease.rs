//! Leader election through a `coordination.k8s.io/v1` Lease, as client-go's
//! `leaderelection` package does it, so that one agent of the cluster watches Events.
//!
//! Every agent tries every `retry_period`: it reads the Lease; a missing Lease is
//! created with itself as the holder (a `409 Conflict` means another agent created it
//! first); a Lease held by another agent is left alone until its record has not changed
//! for `leaseDurationSeconds` on this agent's own clock (clocks of different nodes are
//! never compared: the expiry is timed from when this agent saw the record change);
//! otherwise the agent writes itself in as the holder with the `resourceVersion` it
//! read, so of two agents racing for an expired Lease one gets `409 Conflict` and loses.
//! A taker sets `acquireTime` and adds one to `leaseTransitions`; the holder renews
//! (`renewTime`) every `retry_period` and gives up leading when it could not renew for
//! `renew_deadline` (shorter than the Lease's duration, so it stops before another
//! agent may take over). On stop, the holder releases the Lease (empty holder,
//! `leaseDurationSeconds: 1`), so the next agent takes over at its next try.
//!
//! The holder also writes the events watch's acknowledged `resourceVersion` into the
//! Lease's annotation [`VERSION_ANNOTATION`]: the next holder resumes the watch there.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kelp_model::Timestamp;
use serde_json::{json, Value};

use super::api::{Api, Failed};
use super::ship::{lock, Acked};
use super::watch::sleep_while;

/// The Lease annotation holding the newest events `resourceVersion` stored.
pub const VERSION_ANNOTATION: &str = "kelp.dev/events-resource-version";

/// Which Lease, who this agent is, and client-go's three durations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// The Lease's namespace (the agent's own).
    pub namespace: String,
    /// The Lease's name (`kelp-events`).
    pub name: String,
    /// This agent's identity in `holderIdentity`: unique per agent process.
    pub identity: String,
    /// How long a Lease not renewed stays another agent's (15 s).
    pub lease_duration: Duration,
    /// How long the holder tries to renew before it stops leading (10 s).
    pub renew_deadline: Duration,
    /// How often every agent tries (2 s).
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's defaults for `name` in `namespace`, as `identity`.
    pub fn new(namespace: String, name: String, identity: String) -> LeaseConfig {
        LeaseConfig {
            namespace,
            name,
            identity,
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// `MicroTime`: RFC 3339 with exactly six fraction digits, as the API server parses it.
pub(crate) fn micro_time(t: Timestamp) -> String {
    let s = t.to_rfc3339_fixed();
    // `...:05.123456789Z` → `...:05.123456Z`.
    format!("{}Z", &s[..s.len().saturating_sub(4)])
}

/// One agent's side of the election.
pub(crate) struct Elector {
    api: Api,
    config: LeaseConfig,
    /// The Lease's spec as last seen, and when it was first seen so.
    observed: Option<(Value, Instant)>,
}

impl Elector {
    pub(crate) fn new(api: Api, config: LeaseConfig) -> Elector {
        Elector {
            api,
            config,
            observed: None,
        }
    }

    fn collection(&self) -> String {
        format!(
            "/apis/coordination.k8s.io/v1/namespaces/{}/leases",
            self.config.namespace
        )
    }

    fn path(&self) -> String {
        format!("{}/{}", self.collection(), self.config.name)
    }

    fn observe(&mut self, spec: &Value) {
        if self.observed.as_ref().is_none_or(|(s, _)| s != spec) {
            self.observed = Some((spec.clone(), Instant::now()));
        }
    }

    /// One try: `Some(resume)` when this agent holds the Lease afterwards (`resume`: the
    /// version annotation the Lease carried, where a watch starting now resumes); `None`
    /// when another agent holds it or won a race. `version` goes into the annotation
    /// when renewing.
    pub(crate) fn try_acquire_or_renew(
        &mut self,
        version: Option<&str>,
    ) -> Result<Option<Option<String>>, Failed> {
        let now = micro_time(Timestamp::now());
        let me = self.config.identity.clone();
        let duration = self.config.lease_duration.as_secs().max(1);
        let (status, mut lease) = self.api.get_json(&self.path())?;
        if status == 404 {
            let spec = json!({
                "holderIdentity": me,
                "leaseDurationSeconds": duration,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            });
            let body = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.config.name, "namespace": self.config.namespace},
                "spec": spec,
            });
            let (status, _) = self.api.send("POST", &self.collection(), &body)?;
            return match status {
                200 | 201 => {
                    self.observe(&spec);
                    Ok(Some(None))
                }
                409 => Ok(None),
                s => Err(Failed(format!("creating lease {}: HTTP {s}", self.path()))),
            };
        }
        if status != 200 {
            return Err(Failed(format!(
                "reading lease {}: HTTP {status}",
                self.path()
            )));
        }
        let old = lease["spec"].clone();
        self.observe(&old);
        let holder = old["holderIdentity"].as_str().unwrap_or("");
        let held_for = old["leaseDurationSeconds"].as_u64().unwrap_or(duration);
        let seen_at = self.observed.as_ref().map_or_else(Instant::now, |o| o.1);
        if !holder.is_empty() && holder != me && seen_at.elapsed() < Duration::from_secs(held_for) {
            return Ok(None);
        }
        let renewing = holder == me;
        let transitions = old["leaseTransitions"].as_i64().unwrap_or(0);
        let spec = json!({
            "holderIdentity": me,
            "leaseDurationSeconds": duration,
            "acquireTime": if renewing { old["acquireTime"].clone() } else { json!(now) },
            "renewTime": now,
            "leaseTransitions": if renewing { transitions } else { transitions + 1 },
        });
        let annotations = &mut lease["metadata"]["annotations"];
        let resume = annotations[VERSION_ANNOTATION].as_str().map(str::to_owned);
        if let (true, Some(v)) = (renewing, version) {
            annotations[VERSION_ANNOTATION] = json!(v);
        }
        lease["spec"] = spec.clone();
        let (status, _) = self.api.send("PUT", &self.path(), &lease)?;
        match status {
            200 => {
                self.observe(&spec);
                Ok(Some(resume))
            }
            409 => Ok(None),
            s => Err(Failed(format!("updating lease {}: HTTP {s}", self.path()))),
        }
    }

    /// Gives the Lease up if this agent holds it, writing `version` into it.
    pub(crate) fn release(&mut self, version: Option<&str>) -> Result<(), Failed> {
        let (status, mut lease) = self.api.get_json(&self.path())?;
        if status != 200 || lease["spec"]["holderIdentity"].as_str() != Some(&self.config.identity)
        {
            return Ok(());
        }
        let now = micro_time(Timestamp::now());
        let transitions = lease["spec"]["leaseTransitions"].as_i64().unwrap_or(0);
        lease["spec"] = json!({
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": transitions,
        });
        if let Some(v) = version {
            lease["metadata"]["annotations"][VERSION_ANNOTATION] = json!(v);
        }
        match self.api.send("PUT", &self.path(), &lease)?.0 {
            200 | 409 => Ok(()),
            s => Err(Failed(format!("releasing lease {}: HTTP {s}", self.path()))),
        }
    }
}

/// What the elector tells the events watch.
#[derive(Default)]
pub(crate) struct Leadership {
    /// Whether this agent leads now.
    pub(crate) leading: AtomicBool,
    /// Where the watch starts when leading begins (`None`: a list).
    pub(crate) resume: Mutex<Option<String>>,
}

/// Tries and renews until `stop`, then releases the Lease if held. `acked` is the
/// version written into the Lease while leading.
pub(crate) fn run(
    mut e: Elector,
    lead: &Leadership,
    acked: &Acked,
    gauge: &AtomicBool,
    stop: &AtomicBool,
) {
    let go_on = || !stop.load(Ordering::SeqCst);
    let mut renewed: Option<Instant> = None;
    while go_on() {
        let version = lock(acked).clone();
        let leading = lead.leading.load(Ordering::SeqCst);
        match e.try_acquire_or_renew(version.as_deref()) {
            Ok(Some(resume)) => {
                if !leading {
                    tracing::info!(
                        identity = e.config.identity,
                        ?resume,
                        "leading: watching kubernetes events"
                    );
                    *lock(acked) = resume.clone();
                    *lock(&lead.resume) = resume;
                    lead.leading.store(true, Ordering::SeqCst);
                }
                renewed = Some(Instant::now());
            }
            Ok(None) => {
                if leading {
                    tracing::warn!("lost the events lease to another agent");
                    lead.leading.store(false, Ordering::SeqCst);
                }
            }
            Err(Failed(reason)) => {
                tracing::warn!(%reason, "events lease");
                let late = renewed.is_none_or(|t| t.elapsed() >= e.config.renew_deadline);
                if leading && late {
                    tracing::warn!("could not renew the events lease in time; no longer leading");
                    lead.leading.store(false, Ordering::SeqCst);
                }
            }
        }
        gauge.store(lead.leading.load(Ordering::SeqCst), Ordering::Relaxed);
        let mut wait = e.config.retry_period;
        if !lead.leading.load(Ordering::SeqCst) {
            // client-go's jitter (up to 20 %), so that followers do not try in step.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            wait += wait.mul_f64(f64::from(nanos % 200) / 1000.0);
        }
        sleep_while(&go_on, wait);
    }
    gauge.store(false, Ordering::Relaxed);
    if lead.leading.swap(false, Ordering::SeqCst) {
        let version = lock(acked).clone();
        match e.release(version.as_deref()) {
            Ok(()) => tracing::info!("released the events lease"),
            Err(Failed(reason)) => tracing::warn!(%reason, "releasing the events lease"),
        }
    }
}
