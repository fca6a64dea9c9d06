//! Work an invocation leaves for after its reply: making the spare
//! instance of each component it called or sent a request to
//! (`components`, spares).
//!
//! Why not a task per job at once: the job would then compete with the
//! reply it is meant to stay out of the way of. A second task spawned in
//! one request also moves the first out of the worker's next-task slot,
//! which wakes another worker thread; measured on the mesh bench, the
//! wake-up and the work on the other core cost the in-process chain more
//! than the instantiation they saved. So the outermost invocation in a
//! task collects the jobs of every invocation nested in it (the
//! in-process calls it makes) and spawns them as one task once it has its
//! reply; on a worker with nothing else queued, that task runs after the
//! caller's task has sent the reply and waits for the next request.
//!
//! And only when no other invocation runs on the host at that moment: the
//! jobs use time the host would otherwise spend idle. Under load the next
//! call instantiates for itself, as without spares; making them there too
//! cost throughput (a task per request) and saved no one any waiting.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::future::BoxFuture;

tokio::task_local! {
    static LATER: RefCell<Vec<BoxFuture<'static, ()>>>;
}

/// Most jobs one invocation may leave (one per component it called in
/// process); past this, the rest are dropped: spares are an optimisation.
const MAX_JOBS: usize = 64;

/// Runs `work`, an invocation, counted in `running` (the host's
/// invocations in flight); if it is the outermost one of its task, the
/// jobs it and the invocations nested in it deferred are spawned as one
/// task after it ends, when no other invocation runs, and dropped if one
/// does.
pub(crate) async fn outermost<F: Future>(running: &AtomicU64, work: F) -> F::Output {
    if LATER.try_with(|_| ()).is_ok() {
        return work.await;
    }
    let counted = Counted::start(running);
    let (output, jobs) = LATER
        .scope(RefCell::new(Vec::new()), async {
            let output = work.await;
            (output, LATER.with(RefCell::take))
        })
        .await;
    if counted.end_idle() && !jobs.is_empty() {
        // Last deferred first: the outermost invocation's job comes last,
        // and its instance is the one the next request needs first.
        tokio::spawn(async move {
            for job in jobs.into_iter().rev() {
                job.await;
            }
        });
    }
    output
}

/// One invocation in `running`, until ended or dropped (a caller that
/// stopped waiting).
struct Counted<'a>(&'a AtomicU64);

impl<'a> Counted<'a> {
    fn start(running: &'a AtomicU64) -> Self {
        running.fetch_add(1, Ordering::Relaxed);
        Self(running)
    }

    /// Ends it; whether it was the last one running.
    fn end_idle(self) -> bool {
        let idle = self.0.fetch_sub(1, Ordering::Relaxed) == 1;
        std::mem::forget(self);
        idle
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `job` after the outermost invocation of this task has its reply,
/// or now, in a task of its own, outside any invocation.
pub(crate) fn defer(job: impl Future<Output = ()> + Send + 'static) {
    if LATER.try_with(|_| ()).is_err() {
        tokio::spawn(job);
        return;
    }
    LATER.with(|later| {
        let mut later = later.borrow_mut();
        if later.len() < MAX_JOBS {
            later.push(Box::pin(job));
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn nested_jobs_run_once_the_outermost_invocation_ends() {
        let ran = Arc::new(AtomicUsize::new(0));
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let job = |ran: &Arc<AtomicUsize>| {
            let (ran, done_tx) = (ran.clone(), done_tx.clone());
            async move {
                ran.fetch_add(1, Ordering::SeqCst);
                let _ = done_tx.send(());
            }
        };
        let running = AtomicU64::new(0);
        let seen_inside = outermost(&running, async {
            defer(job(&ran));
            outermost(&running, async { defer(job(&ran)) }).await;
            tokio::task::yield_now().await;
            ran.load(Ordering::SeqCst)
        })
        .await;
        assert_eq!(seen_inside, 0, "deferred until the outermost one ends");
        for _ in 0..2 {
            done.recv().await.unwrap();
        }
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(running.load(Ordering::SeqCst), 0);

        // While another invocation runs, the jobs are dropped.
        running.fetch_add(1, Ordering::SeqCst);
        outermost(&running, async { defer(job(&ran)) }).await;
        running.fetch_sub(1, Ordering::SeqCst);
        // Outside any invocation a job runs on its own (and after the
        // dropped one would have, on this single-threaded runtime).
        defer(job(&ran));
        done.recv().await.unwrap();
        tokio::task::yield_now().await;
        assert_eq!(
            ran.load(Ordering::SeqCst),
            3,
            "the busy host's job was dropped"
        );
    }
}
