//! The query pool (issue #9: a query of death must not slow ingest). LogQL evaluations
//! and the store reads of the metadata routes run on rayon threads of their own, not on
//! tokio's blocking pool (where ingest appends) nor on rayon's global pool (where the
//! store flushes and compacts). Two things keep ingest at its pace while queries of death
//! run:
//!
//! - **Priority**: the pool's threads run at a lower CPU priority (`limits.query_nice`, a
//!   per-thread nice value on Linux), so when ingest and queries both want the cores the
//!   kernel gives them to ingest first; idle cores still go to queries.
//! - **Pacing while pushes arrive** (`limits.query_share_while_ingesting`): priority alone
//!   is not enough when the server shares the machine or runs under a CPU quota (a
//!   Kubernetes limit, an autogroup): the CPU its queries use is charged to the whole
//!   process, ingest included. So while pushes arrive, each query thread computes at most
//!   that share of its time once it has used its burst (`limits.query_burst_ms`) and
//!   sleeps the rest ([`Pacer`], called by the engine before every block it reads,
//!   [`kelp_query::Pace`]); ordinary queries fit in the burst and are not slowed, and
//!   without pushes queries run flat out.
//! - **A cap on evaluations running at once** (`limits.max_running_queries`): more wait
//!   their turn in arrival order, inside their timeout (504 when it passes while they
//!   wait); the outstanding bound (`limits.max_concurrent_queries`, 429) bounds the queue.
//!
//! The store's scans use the pool they run on (`rayon::current_num_threads`), so a query
//! is parallel across `limits.query_threads` threads at most.

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::LimitsSection;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// The pool's sizes and priority, resolved from `limits.*`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolSettings {
    /// Threads of the pool.
    pub threads: usize,
    /// Evaluations running at once.
    pub max_running: usize,
    /// Nice value of the pool's threads (0: the server's own priority).
    pub nice: i32,
    /// The share of its time a query thread computes while pushes arrive (1: no pacing).
    pub share_while_ingesting: f64,
    /// CPU time a query thread computes at full speed before the share applies.
    pub burst: Duration,
}

impl PoolSettings {
    /// `limits.query_threads` (0: one per core), `limits.max_running_queries` (0: as many
    /// as threads) and `limits.query_nice`.
    pub fn from_limits(l: &LimitsSection) -> Self {
        let threads = match l.query_threads {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let max_running = match l.max_running_queries {
            0 => threads,
            n => n,
        };
        Self {
            threads,
            max_running,
            nice: l.query_nice,
            share_while_ingesting: l.query_share_while_ingesting,
            burst: Duration::from_millis(l.query_burst_ms),
        }
    }
}

/// Threads for query work at a lower priority, and the cap on evaluations running at once.
#[derive(Debug)]
pub struct QueryPool {
    settings: PoolSettings,
    pacer: Arc<Pacer>,
    running: Arc<Semaphore>,
    /// Built on first use, so a state that never queries starts no threads.
    pool: OnceLock<Result<rayon::ThreadPool, String>>,
}

impl QueryPool {
    /// A pool with `settings` (its threads start on first use).
    pub fn new(settings: PoolSettings) -> Self {
        Self {
            settings,
            pacer: Arc::new(Pacer::new(settings.share_while_ingesting, settings.burst)),
            running: Arc::new(Semaphore::new(settings.max_running.max(1))),
            pool: OnceLock::new(),
        }
    }

    /// The resolved sizes and priority.
    pub fn settings(&self) -> PoolSettings {
        self.settings
    }

    /// The hook the engine calls before every block it reads ([`Pacer::pace`]).
    pub fn pace_hook(&self) -> kelp_query::Pace {
        let pacer = self.pacer.clone();
        kelp_query::Pace::new(move || pacer.pace())
    }

    /// Notes that a push arrived or ended: queries are paced for a while.
    pub fn ingest_seen(&self) {
        self.pacer.push_seen();
    }

    /// Runs a query evaluation on the pool once fewer than `max_running` are running,
    /// waiting its turn (first come, first served) while counted in
    /// `kelp_query_evaluations_queued`. The running slot is held until `f` returns, even
    /// when the caller stopped waiting (a timeout or a client that left: `f` is then
    /// expected to stop at its next cancellation check), so the cap holds.
    pub async fn evaluate<T, F>(&self, metrics: &Metrics, f: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = {
            let _queued = Queued::new(metrics);
            self.running
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| ApiError::Internal("the query pool is closed".into()))?
        };
        self.spawn(Some(permit), f).await
    }

    /// Runs a store read of a metadata route (labels, series, volumes, …) on the pool,
    /// at the pool's priority, without taking a running slot.
    pub async fn read<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.spawn(None, f).await
    }

    async fn spawn<T, F>(&self, permit: Option<OwnedSemaphorePermit>, f: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pacer = self.pacer.clone();
        self.pool()?.spawn(move || {
            pacer.begin();
            // A panic becomes a 500 for this request (rayon would abort the process).
            let out = std::panic::catch_unwind(AssertUnwindSafe(f));
            drop(permit);
            let _ = tx.send(out);
        });
        match rx.await {
            Ok(Ok(out)) => out,
            Ok(Err(panic)) => Err(ApiError::Internal(format!(
                "query task failed: panicked: {}",
                panic_message(panic.as_ref())
            ))),
            Err(_) => Err(ApiError::Internal(
                "query task failed: ended without an answer".into(),
            )),
        }
    }

    fn pool(&self) -> Result<&rayon::ThreadPool, ApiError> {
        let settings = self.settings;
        self.pool
            .get_or_init(|| build(settings))
            .as_ref()
            .map_err(|e| ApiError::Internal(e.clone()))
    }
}

/// How long after the last push queries are still paced.
const INGEST_QUIET: Duration = Duration::from_millis(500);
/// The longest nap at once (a query's deadline is checked between naps).
const MAX_NAP: Duration = Duration::from_millis(50);
/// Naps shorter than this are saved up (a sleep costs more than it is worth below it).
const MIN_NAP: Duration = Duration::from_millis(1);

/// Paces query threads while pushes arrive. A thread computes its first `burst` of CPU
/// time of each task at full speed (a task: an evaluation or metadata read started on the
/// pool, or work after the thread rested [`RESTED`]); beyond it, at most `share` of its
/// time: it sleeps `1 / share - 1` times the CPU it used. So ordinary queries (a few
/// milliseconds) are never slowed and a query of death soon is.
#[derive(Debug)]
pub struct Pacer {
    share: f64,
    burst: Duration,
    epoch: Instant,
    /// Milliseconds after `epoch` of the last push seen, plus one (0: none yet).
    last_push: AtomicU64,
}

/// A thread's pacing state: its CPU time and the time at its last pace, the burst left
/// and the nap it owes.
#[derive(Debug, Clone, Copy)]
struct Paced {
    cpu: Duration,
    at: Instant,
    burst_left: Duration,
    owed: Duration,
}

/// A thread that did not pace for this long was resting: its next work is a new task.
const RESTED: Duration = Duration::from_secs(1);

thread_local! {
    static PACED: Cell<Option<Paced>> = const { Cell::new(None) };
    /// Naps this thread took (for tests).
    static NAPS: Cell<u64> = const { Cell::new(0) };
}

impl Pacer {
    /// A pacer letting each task of a query thread compute `burst` at full speed, then
    /// `share` (0 < share <= 1) of its time, while pushes arrive.
    pub fn new(share: f64, burst: Duration) -> Self {
        Self {
            share,
            burst,
            epoch: Instant::now(),
            last_push: AtomicU64::new(0),
        }
    }

    /// A push arrived or ended.
    pub fn push_seen(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.last_push.store(now, Ordering::Relaxed);
    }

    /// Whether a push was seen within [`INGEST_QUIET`].
    pub fn ingesting(&self) -> bool {
        let last = self.last_push.load(Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        last != 0 && now.saturating_sub(last) <= INGEST_QUIET.as_millis() as u64
    }

    /// A task starts on this thread: its burst is whole again.
    pub fn begin(&self) {
        PACED.set(Some(Paced {
            cpu: thread_cpu_time(),
            at: Instant::now(),
            burst_left: self.burst,
            owed: Duration::ZERO,
        }));
    }

    /// Called on a query thread between units of work: while pushes arrive, takes the CPU
    /// time used since the last call from the task's burst, and once it is spent sleeps
    /// what the share asks (at most [`MAX_NAP`] at once, the rest owed).
    pub fn pace(&self) {
        if self.share >= 1.0 || self.share <= 0.0 {
            return;
        }
        let p = match PACED.get() {
            Some(p) if self.ingesting() && p.at.elapsed() < RESTED => p,
            // The first call, no pushes, or after a rest: a new task.
            _ => return self.begin(),
        };
        let worked = thread_cpu_time().saturating_sub(p.cpu);
        let from_burst = worked.min(p.burst_left);
        let paced = worked - from_burst;
        let mut owed = (p.owed + paced.mul_f64(1.0 / self.share - 1.0)).min(MAX_NAP * 4);
        if owed >= MIN_NAP {
            let nap = owed.min(MAX_NAP);
            std::thread::sleep(nap);
            NAPS.set(NAPS.get() + 1);
            owed -= nap;
        }
        PACED.set(Some(Paced {
            cpu: thread_cpu_time(),
            at: Instant::now(),
            burst_left: p.burst_left - from_burst,
            owed,
        }));
    }
}

/// The CPU time the calling thread has used.
#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Elsewhere: wall time (a thread that waited is counted as having worked).
#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

/// Starts the pool's threads, each lowering its own priority first.
fn build(s: PoolSettings) -> Result<rayon::ThreadPool, String> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(s.threads.max(1))
        .thread_name(|i| format!("kelp-query-{i}"))
        .start_handler(move |_| {
            if let Err(e) = lower_priority(s.nice) {
                tracing::warn!(nice = s.nice, error = %e, "query thread keeps the server's priority");
            }
        })
        .build()
        .map_err(|e| format!("starting the query pool: {e}"))
}

/// Sets the calling thread's nice value (Linux: nice is per thread).
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)
        .map_err(std::io::Error::from)
}

/// Elsewhere the threads keep the server's priority.
#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: i32) -> std::io::Result<()> {
    if nice == 0 {
        return Ok(());
    }
    Err(std::io::Error::other(
        "per-thread priority is only set on Linux",
    ))
}

/// The calling thread's nice value (Linux), for tests and diagnostics.
#[cfg(target_os = "linux")]
pub fn current_nice() -> std::io::Result<i32> {
    rustix::process::getpriority_process(Some(rustix::thread::gettid()))
        .map_err(std::io::Error::from)
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// Counts an evaluation as queued until dropped (it got its slot, or its caller left).
struct Queued<'a>(&'a Metrics);

impl<'a> Queued<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.evaluations_queued(1);
        Self(m)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.evaluations_queued(-1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    fn pool(threads: usize, max_running: usize, nice: i32) -> QueryPool {
        QueryPool::new(PoolSettings {
            threads,
            max_running,
            nice,
            share_while_ingesting: 1.0,
            burst: Duration::ZERO,
        })
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn defaults_follow_the_cores() {
        let l = LimitsSection::default();
        let s = PoolSettings::from_limits(&l);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!((s.threads, s.max_running), (cores, cores));
        assert_eq!(s.nice, l.query_nice);
        let l = LimitsSection {
            query_threads: 3,
            max_running_queries: 0,
            query_nice: 7,
            query_share_while_ingesting: 0.5,
            ..LimitsSection::default()
        };
        let s = PoolSettings::from_limits(&l);
        assert_eq!((s.threads, s.max_running, s.nice), (3, 3, 7));
        assert_eq!(s.share_while_ingesting, 0.5);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pool_threads_run_at_the_configured_nice_and_others_do_not() {
        let before = current_nice().unwrap();
        let p = pool(2, 2, 13);
        let rt = rt();
        let (eval, read) = rt.block_on(async {
            let m = Metrics::default();
            let eval = p
                .evaluate(&m, || {
                    Ok((
                        current_nice().unwrap(),
                        std::thread::current().name().map(str::to_owned),
                    ))
                })
                .await
                .unwrap();
            let read = p.read(|| Ok(current_nice().unwrap())).await.unwrap();
            (eval, read)
        });
        assert_eq!(eval.0, 13);
        assert!(eval.1.unwrap().starts_with("kelp-query-"));
        assert_eq!(read, 13);
        // Nice is per thread: the caller's thread is untouched.
        assert_eq!(current_nice().unwrap(), before);
        // Nice 0 leaves the threads at the process's priority.
        let p0 = pool(1, 1, 0);
        let n = rt
            .block_on(p0.read(|| Ok(current_nice().unwrap())))
            .unwrap();
        assert_eq!(n, before);
    }

    #[test]
    fn evaluations_past_the_cap_wait_their_turn_and_the_cap_holds() {
        let p = Arc::new(pool(2, 1, 0));
        let m = Arc::new(Metrics::default());
        let rt = rt();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<&str>();
        let first = {
            let (p, m, started) = (p.clone(), m.clone(), started_tx.clone());
            rt.spawn(async move {
                p.evaluate(&m, move || {
                    started.send("first").unwrap();
                    release_rx.recv().unwrap();
                    Ok(1)
                })
                .await
            })
        };
        assert_eq!(started_rx.recv().unwrap(), "first");
        let second = {
            let (p, m) = (p.clone(), m.clone());
            rt.spawn(async move {
                p.evaluate(&m, move || {
                    started_tx.send("second").unwrap();
                    Ok(2)
                })
                .await
            })
        };
        // The second waits in the queue while the first holds the only slot.
        while !m
            .render(Default::default())
            .contains("kelp_query_evaluations_queued 1")
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(started_rx.try_recv().is_err(), "ran past the cap");
        // A read does not wait for a running slot.
        assert_eq!(rt.block_on(p.read(|| Ok(3))).unwrap(), 3);
        release_tx.send(()).unwrap();
        assert_eq!(rt.block_on(first).unwrap().unwrap(), 1);
        assert_eq!(rt.block_on(second).unwrap().unwrap(), 2);
        assert_eq!(started_rx.recv().unwrap(), "second");
        assert!(m
            .render(Default::default())
            .contains("kelp_query_evaluations_queued 0"));
    }

    #[test]
    fn a_caller_that_stops_waiting_leaves_the_queue_and_its_slot_is_kept_until_the_work_ends() {
        let p = Arc::new(pool(2, 1, 0));
        let m = Arc::new(Metrics::default());
        let rt = rt();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, started_rx) = mpsc::channel::<()>();
        // The first caller gives up at once (a timeout), its evaluation keeps running.
        let gave_up = rt.block_on(async {
            let work = p.evaluate(&m, move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Ok(())
            });
            tokio::time::timeout(Duration::from_millis(1), work).await
        });
        assert!(gave_up.is_err());
        started_rx.recv().unwrap();
        // A caller that gave up while queued is no longer counted.
        let queued = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(1), p.evaluate(&m, || Ok(()))).await
        });
        assert!(queued.is_err());
        assert!(m
            .render(Default::default())
            .contains("kelp_query_evaluations_queued 0"));
        // The slot is still held by the running work: a new evaluation waits for it.
        let next = {
            let (p, m) = (p.clone(), m.clone());
            rt.spawn(async move { p.evaluate(&m, || Ok(5)).await })
        };
        while !m
            .render(Default::default())
            .contains("kelp_query_evaluations_queued 1")
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        release_tx.send(()).unwrap();
        assert_eq!(rt.block_on(next).unwrap().unwrap(), 5);
    }

    #[test]
    fn a_panic_is_a_500_for_its_request_and_the_pool_goes_on() {
        let p = pool(1, 1, 0);
        let m = Metrics::default();
        let rt = rt();
        let e = rt
            .block_on(p.evaluate(&m, || -> Result<(), ApiError> { panic!("boom") }))
            .unwrap_err();
        let (status, message) = e.status_and_message();
        assert_eq!(status.as_u16(), 500);
        assert!(message.contains("boom"), "{message}");
        assert_eq!(rt.block_on(p.evaluate(&m, || Ok(7))).unwrap(), 7);
    }

    #[test]
    fn while_pushes_arrive_a_query_thread_computes_at_most_its_share_after_its_burst() {
        let burn = |pacer: &Pacer, until: Duration| {
            // CPU work between paces, as a scan does between blocks.
            let start = thread_cpu_time();
            let mut x = 0u64;
            while thread_cpu_time().saturating_sub(start) < until {
                for i in 0..10_000u64 {
                    x = x.wrapping_mul(31).wrapping_add(i);
                }
                std::hint::black_box(x);
                pacer.push_seen();
                pacer.pace();
            }
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                // No pushes: never a nap.
                let idle = Pacer::new(0.25, Duration::ZERO);
                idle.pace();
                let start = thread_cpu_time();
                while thread_cpu_time() - start < Duration::from_millis(10) {
                    idle.pace();
                }
                assert_eq!(NAPS.get(), 0);
                // Pushes arriving, no burst: for 40 ms of CPU the thread sleeps about
                // 120 ms (a lower bound: a busy machine only adds to the wall time).
                let pacer = Pacer::new(0.25, Duration::ZERO);
                pacer.push_seen();
                assert!(pacer.ingesting());
                pacer.pace();
                let (wall, cpu) = (Instant::now(), thread_cpu_time());
                burn(&pacer, Duration::from_millis(40));
                let worked = thread_cpu_time() - cpu;
                let napped = wall.elapsed().saturating_sub(worked);
                assert!(
                    napped >= Duration::from_millis(100),
                    "napped {napped:?} for {worked:?} of work"
                );
            });
            s.spawn(|| {
                // A 100 ms burst: a 40 ms task runs without a nap; a long one is paced; a
                // new task has its burst again.
                let pacer = Pacer::new(0.25, Duration::from_millis(100));
                pacer.push_seen();
                pacer.begin();
                burn(&pacer, Duration::from_millis(40));
                assert_eq!(NAPS.get(), 0, "a short task napped");
                burn(&pacer, Duration::from_millis(120));
                let naps = NAPS.get();
                assert!(naps > 0, "a long task never napped");
                pacer.begin();
                burn(&pacer, Duration::from_millis(40));
                assert_eq!(NAPS.get(), naps, "a new short task napped");
            });
        });
        // A share of 1 never naps.
        let free = Pacer::new(1.0, Duration::ZERO);
        free.push_seen();
        free.pace();
        free.pace();
        assert_eq!(NAPS.get(), 0);
    }
}
