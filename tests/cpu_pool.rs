//! The CPU backend's `on_own_threads`: the work runs on a thread of rayon's pool (natively its
//! threads, in the threaded browser build the page's workers), a future that is still pending
//! after its first poll finishes on the caller, the decomposition gives the same bits either
//! way, and the futures the crate hands to it are `Send` (checked when this file compiles).
mod common;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use svdtune::backend::cpu::{CpuBackend, CpuTensor};
use svdtune::backend::{Backend, OwnThreads};
use svdtune::svd::decompose::{DecomposeOptions, factors};
use svdtune::train::step::{HostBatch, Trainer};

/// Never called: compiling it proves the work the crate runs on the pool may move there.
#[allow(dead_code)]
fn pooled_work_is_send(be: &CpuBackend, w: &CpuTensor, t: &mut Trainer<CpuBackend>) {
    fn send<T: Send>(_: T) {}
    let batches: &[HostBatch] = &[];
    send(factors(be, w, 1, &DecomposeOptions::default()));
    send(t.step(be, batches));
    send(t.eval(be, batches));
}

gpu_test!(work_runs_on_a_pool_thread, runs_on_pool);
async fn runs_on_pool() {
    let threads = rayon::current_num_threads();
    // Safety: the future holds nothing.
    let index = unsafe { CpuBackend.on_own_threads(async { rayon::current_thread_index() }) }.await;
    if threads >= 2 {
        assert!(index.is_some(), "ran outside the pool of {threads} threads");
    } else {
        assert_eq!(
            index, None,
            "a pool of one thread runs the work on the caller"
        );
    }
}

/// Pending at its first poll (waking itself), then the thread it finished on.
struct PendingOnce(bool);
impl Future for PendingOnce {
    type Output = Option<usize>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.0 {
            return Poll::Ready(rayon::current_thread_index());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

gpu_test!(pending_work_finishes_on_the_caller, pending_finishes);
async fn pending_finishes() {
    let outside = rayon::current_thread_index();
    // Safety: the future holds a flag.
    let finished_on = unsafe { CpuBackend.on_own_threads(PendingOnce(false)) }.await;
    assert_eq!(finished_on, outside);
}

gpu_test!(decomposition_on_the_pool_gives_the_same_bits, same_bits);
async fn same_bits() {
    let be = CpuBackend;
    let (m, n, q) = (160, 96, 12);
    let w = be.tensor(&common::rand_vec(m * n, 7), &[m, n]).unwrap();
    let opts = DecomposeOptions::default();
    let here = factors(&be, &w, q, &opts).await.unwrap();
    // Safety: the future holds the backend, a tensor and options.
    let pooled = unsafe { be.on_own_threads(factors(&be, &w, q, &opts)) }
        .await
        .unwrap();
    assert_eq!(here.sigma0, pooled.sigma0);
    assert_eq!(
        be.read(&here.u).await.unwrap(),
        be.read(&pooled.u).await.unwrap()
    );
    assert_eq!(
        be.read(&here.v).await.unwrap(),
        be.read(&pooled.v).await.unwrap()
    );
    assert!(here.sigma0.iter().all(|s| s.is_finite() && *s > 0.0));
}
