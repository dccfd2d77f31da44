//! Pieces of the CPU backend's work run on threads of rayon's pool (see
//! [`crate::backend::OwnThreads::on_own_threads`]). Entering the pool from outside costs a wake of a
//! sleeping pool thread and, at the end, of the caller; one entry per layer or step instead of
//! one per product and row op saves those. Independent pieces (layers of a decomposition) run
//! side by side, one per thread, so that most products run whole on one thread with no handoff
//! at all; a thread that runs out of pieces steals halves of the others' products. Figures:
//! bench/README.md, "Layers side by side".

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

/// Awaits `work` after polling it once on a pool thread (this one when the caller is one): the
/// CPU backend's futures are ready at their first poll, so all of it runs there. One that is
/// still pending (it waits on something else) is awaited here from where it stopped. Runs
/// `work` here when the pool has one thread.
///
/// # Safety
/// As for [`crate::backend::OwnThreads::on_own_threads`]: `work` holds nothing bound to the calling
/// thread.
pub async unsafe fn on_pool<F: Future>(work: F) -> F::Output {
    // Safety: the caller's.
    let mut out = unsafe { on_pool_each(vec![work]) }.await;
    out.pop().expect("one output per work")
}

/// [`on_pool`] for several independent pieces at once: each polled once on a pool thread, side
/// by side; those still pending are awaited here in order. Outputs in the order of `works`.
///
/// # Safety
/// As for [`on_pool`], for every piece.
pub async unsafe fn on_pool_each<F: Future>(works: Vec<F>) -> Vec<F::Output> {
    let mut works: Vec<_> = works.into_iter().map(Box::pin).collect();
    if rayon::current_num_threads() < 2 {
        let mut out = Vec::with_capacity(works.len());
        for work in works {
            out.push(work.await);
        }
        return out;
    }
    let carried: Vec<_> = works.iter_mut().map(Carried).collect();
    let polled: Vec<Option<F::Output>> = rayon::scope(move |_| {
        use rayon::prelude::*;
        let polled: Vec<_> = carried
            .into_par_iter()
            .with_max_len(1)
            .map(|work| {
                let work = work.into_inner();
                let mut cx = Context::from_waker(Waker::noop());
                Carried(match work.as_mut().poll(&mut cx) {
                    Poll::Ready(out) => Some(out),
                    Poll::Pending => None,
                })
            })
            .collect();
        Carried(polled)
    })
    .into_inner()
    .into_iter()
    .map(Carried::into_inner)
    .collect();
    let mut out = Vec::with_capacity(works.len());
    for (work, polled) in works.into_iter().zip(polled) {
        out.push(match polled {
            Some(done) => done,
            None => work.await,
        });
    }
    out
}
