//! Where a backend runs a piece of its work (a layer's decomposition, a training step): the
//! CPU backend moves it onto its pool's threads (`cpu/pool_work.rs`), several side by side;
//! the GPU backend awaits it where it is. A supertrait of [`super::Backend`].

/// How a backend runs whole pieces of its work; every method has a default for backends that
/// run them where they are called.
#[allow(async_fn_in_trait)]
pub trait OwnThreads {
    /// Awaits `work`, a piece of this backend's work (a layer's decomposition, a training step),
    /// where its ops run best: the CPU backend runs it on a thread of its pool, so that each
    /// product and row op splits from there instead of entering the pool from outside (a wake of
    /// a sleeping pool thread and of the caller per op); other backends await it here.
    ///
    /// # Safety
    /// `work` may be polled and dropped on another thread: it holds nothing bound to the calling
    /// thread (no JS values, no `Rc` shared outside it). Futures over the CPU backend's tensors
    /// and host data qualify; `tests/cpu_pool.rs` checks the ones the crate passes are `Send`.
    async unsafe fn on_own_threads<F: std::future::Future>(&self, work: F) -> F::Output {
        work.await
    }

    /// How many independent pieces of work [`OwnThreads::on_own_threads_each`] runs at once: the
    /// CPU backend's pool threads (each piece then runs mostly on one thread, with no handoff
    /// per op); 1 where the backend runs one thing at a time (the GPU's queue).
    fn concurrent_works(&self) -> usize {
        1
    }

    /// Awaits every piece of `works` (independent of each other), as [`OwnThreads::on_own_threads`]
    /// does one: the CPU backend runs them concurrently on its pool's threads; other backends one
    /// after the other. The outputs are in the order of `works`.
    ///
    /// # Safety
    /// As for [`OwnThreads::on_own_threads`], for every piece.
    async unsafe fn on_own_threads_each<F: std::future::Future>(
        &self,
        works: Vec<F>,
    ) -> Vec<F::Output> {
        let mut out = Vec::with_capacity(works.len());
        for work in works {
            out.push(work.await);
        }
        out
    }
}
