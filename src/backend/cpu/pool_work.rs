//! A piece of the CPU backend's work run on a thread of rayon's pool (see
//! [`crate::backend::Backend::on_own_threads`]). Entering the pool from outside costs a wake of a
//! sleeping pool thread and, at the end, of the caller; one entry per layer or step instead of
//! one per product and row op saves most of them. In the page that is the difference between
//! 3.9 and 3.4 s for SmolLM2's decomposition; natively it is within noise.

use std::future::Future;
use std::task::{Context, Poll, Waker};

/// A value moved to a pool thread and back, on the word of `on_pool`'s caller.
struct Carried<T>(T);
// Safety: `on_pool`'s contract: what it carries holds nothing bound to the calling thread.
unsafe impl<T> Send for Carried<T> {}

impl<T> Carried<T> {
    fn into_inner(self) -> T {
        self.0
    }
}

/// Awaits `work` after polling it once on a pool thread: the CPU backend's futures are ready at
/// their first poll, so all of it runs there. One that is still pending (it waits on something
/// else) is awaited here from where it stopped. Runs `work` here when the pool has one thread or
/// the caller is already one of its threads.
///
/// # Safety
/// As for [`crate::backend::Backend::on_own_threads`]: `work` holds nothing bound to the calling
/// thread.
pub async unsafe fn on_pool<F: Future>(work: F) -> F::Output {
    if rayon::current_num_threads() < 2 || rayon::current_thread_index().is_some() {
        return work.await;
    }
    let mut work = Box::pin(work);
    let carried = Carried(&mut work);
    let polled = rayon::scope(move |_| {
        let work = carried.into_inner();
        let mut cx = Context::from_waker(Waker::noop());
        Carried(match work.as_mut().poll(&mut cx) {
            Poll::Ready(out) => Some(out),
            Poll::Pending => None,
        })
    });
    match polled.into_inner() {
        Some(out) => out,
        None => work.await,
    }
}
