//! Side by side: the pieces of one piece of work — the attachments of a message, the entries
//! of an archive, a package's XML filter beside its writer, a message's storing beside its
//! parsing — run on spare workers when the caller lent some ([`with_spare`]), each
//! holding one for as long as it runs; the rest run on the calling thread. Results come back
//! in input order, so outputs are the same bytes whatever ran where.
//!
//! Workers are only ever *tried*, never waited for: the caller already holds one, so nothing
//! here can deadlock, and under full load (every worker busy with its own message) everything
//! runs one after another exactly as without this module. The daemon lends its worker
//! permits ([`crate::pipeline`]); the command line lends the machine's other cores
//! ([`Counted`]).

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::{current_stop, with_stop};

/// Workers a piece of work may borrow. A token holds one until it is dropped.
pub trait Spare: Send + Sync {
    /// One worker, if one is free now.
    fn try_take(&self) -> Option<Box<dyn Send>>;
    /// How many are free now (a hint: another thread may take them first).
    fn free(&self) -> usize;
}

thread_local! {
    /// The workers this thread's work may borrow (set by [`with_spare`]).
    static SPARE: RefCell<Option<Arc<dyn Spare>>> = const { RefCell::new(None) };
}

/// Run `f` on this thread with `spare` to borrow from.
pub fn with_spare<R>(spare: Arc<dyn Spare>, f: impl FnOnce() -> R) -> R {
    struct Unset(Option<Arc<dyn Spare>>);
    impl Drop for Unset {
        fn drop(&mut self) {
            SPARE.with(|c| *c.borrow_mut() = self.0.take());
        }
    }
    let outer = SPARE.with(|c| c.borrow_mut().replace(spare));
    let _unset = Unset(outer);
    f()
}

fn current() -> Option<Arc<dyn Spare>> {
    SPARE.with(|c| c.borrow().clone())
}

/// How many pieces could run at once now: this thread and the free spare workers.
pub fn width() -> usize {
    1 + current().map_or(0, |s| s.free())
}

/// Run `jobs`, each on a borrowed worker's thread when one is free, otherwise here; the
/// results in the jobs' order. The stop signal and the spare workers go with each job. A
/// job that panics panics here (the engine's own guard catches it).
pub fn side_by_side<T: Send, J: FnOnce() -> T + Send>(jobs: Vec<J>) -> Vec<T> {
    let Some(spare) = current().filter(|_| jobs.len() > 1) else {
        return jobs.into_iter().map(|job| job()).collect();
    };
    let stop = current_stop();
    std::thread::scope(|scope| {
        let mut running = Vec::with_capacity(jobs.len());
        let last = jobs.len() - 1;
        for (i, job) in jobs.into_iter().enumerate() {
            // The last job always runs here: this thread would only wait otherwise.
            let token = if i < last { spare.try_take() } else { None };
            match token {
                Some(token) => {
                    let (spare, stop) = (spare.clone(), stop.clone());
                    running.push(Err(scope.spawn(move || lent(token, spare, stop, job))));
                }
                None => running.push(Ok(job())),
            }
        }
        running
            .into_iter()
            .map(|r| match r {
                Ok(done) => done,
                Err(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            })
            .collect()
    })
}

/// Run `job` on a borrowed worker's thread: holding the worker (`token`) while it runs, with
/// the caller's spare workers and stop signal.
fn lent<T>(token: Box<dyn Send>, spare: Arc<dyn Spare>, stop: Option<super::StopSignal>, job: impl FnOnce() -> T) -> T {
    let _token = token;
    with_spare(spare, || match &stop {
        Some(signal) => with_stop(signal, job),
        None => job(),
    })
}

/// One spare worker for a thread of the caller's own making, if one is free now: held until
/// the token is dropped.
pub fn borrow() -> Option<Box<dyn Send>> {
    current()?.try_take()
}

/// Run `a` on a borrowed worker's thread while `b` runs here, when a worker is free now;
/// otherwise `a` and then `b` here, as without this module. Starting a thread costs tens of
/// microseconds of the kernel's time: worth it when a core would idle, not when every
/// worker is busy with its own message. The stop signal and the spare workers go with `a`;
/// a panic in `a` panics here.
pub fn beside<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    let Some((spare, token)) = current().and_then(|s| s.try_take().map(|t| (s, t))) else {
        let a = a();
        return (a, b());
    };
    let stop = current_stop();
    std::thread::scope(|scope| {
        let other = scope.spawn(move || lent(token, spare, stop, a));
        let b = b();
        let a = other.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

/// A fixed number of spare workers, for callers without a worker pool (the command line
/// lends the cores beside its own). Clones share the count.
#[derive(Clone)]
pub struct Counted(Arc<AtomicUsize>);

impl Counted {
    pub fn new(n: usize) -> Self {
        Counted(Arc::new(AtomicUsize::new(n)))
    }

    /// The cores available to the process, but the caller's own.
    pub fn other_cores() -> Self {
        Self::new(
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1),
        )
    }
}

/// Gives a [`Counted`] worker back when dropped.
struct CountedToken(Arc<AtomicUsize>);

impl Drop for CountedToken {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl Spare for Counted {
    fn try_take(&self) -> Option<Box<dyn Send>> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .ok()
            .map(|_| Box::new(CountedToken(self.0.clone())) as Box<dyn Send>)
    }

    fn free(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn results_come_back_in_order_and_workers_are_given_back() {
        let spare = Counted::new(3);
        let jobs: Vec<_> = (0..10)
            .map(|i| {
                move || {
                    std::thread::sleep(Duration::from_millis((10 - i) * 2));
                    (i, std::thread::current().id())
                }
            })
            .collect();
        let here = std::thread::current().id();
        let out = with_spare(Arc::new(spare.clone()), || side_by_side(jobs));
        assert_eq!(out.iter().map(|r| r.0).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        assert!(out.iter().any(|r| r.1 != here), "some ran on borrowed workers");
        assert!(out.iter().any(|r| r.1 == here), "the caller ran some itself");
        assert_eq!(spare.free(), 3, "every worker given back");
    }

    #[test]
    fn without_spare_workers_everything_runs_here() {
        let here = std::thread::current().id();
        let out = side_by_side((0..4).map(|_| move || std::thread::current().id()).collect::<Vec<_>>());
        assert!(out.iter().all(|&id| id == here));
        let none = Counted::new(0);
        let out = with_spare(Arc::new(none), || {
            side_by_side((0..4).map(|_| move || std::thread::current().id()).collect::<Vec<_>>())
        });
        assert!(out.iter().all(|&id| id == here));
    }

    #[test]
    fn beside_borrows_a_free_worker_or_runs_both_here_in_order() {
        let here = std::thread::current().id();
        let spare = Counted::new(1);
        let (a, b) = with_spare(Arc::new(spare.clone()), || {
            beside(
                || (std::thread::current().id(), spare.free()),
                || std::thread::current().id(),
            )
        });
        assert_ne!(a.0, here, "a free worker took the first job");
        assert_eq!(a.1, 0, "and held it while the job ran");
        assert_eq!(b, here);
        assert_eq!(spare.free(), 1, "given back");
        // None free (or none lent): the first job, then the second, both here.
        let order = std::sync::Mutex::new(Vec::new());
        let (a, b) = with_spare(Arc::new(Counted::new(0)), || {
            beside(
                || {
                    order.lock().unwrap().push(1);
                    std::thread::current().id()
                },
                || {
                    order.lock().unwrap().push(2);
                    std::thread::current().id()
                },
            )
        });
        assert_eq!((a, b), (here, here));
        assert_eq!(*order.lock().unwrap(), [1, 2]);
        let (a, _) = beside(|| std::thread::current().id(), || ());
        assert_eq!(a, here);
    }

    #[test]
    fn the_stop_signal_goes_with_each_job() {
        let signal = super::super::StopSignal::default();
        signal.stop();
        let out = with_stop(&signal, || {
            with_spare(Arc::new(Counted::new(2)), || {
                side_by_side((0..3).map(|_| super::super::stop_requested).collect::<Vec<_>>())
            })
        });
        assert_eq!(out, vec![true, true, true]);
    }
}
