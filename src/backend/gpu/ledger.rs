//! The ledger of GPU buffers: every buffer the backend creates (tensors, scratch, the `Params`
//! uniforms of cached bind groups, the readback staging buffer) gets an id and its byte size
//! here, and leaves when it is dropped or purged. The live and peak totals are what the memory
//! budget (`DeviceCaps::memory`) and [`GpuMemory`] rely on.
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// Bytes of GPU buffers the backend holds now and has held at most.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuMemory {
    pub live_bytes: u64,
    pub peak_bytes: u64,
}

/// What the backend's caches and buffers hold now, and how many of each it has created since it
/// was opened. A training loop that has run its first steps creates nothing more: the
/// `*_created` totals stay put and the live figures stay flat.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuCacheStats {
    /// Cached bind groups (each owns one `Params` uniform buffer).
    pub bind_groups: usize,
    /// Compute pipelines (one per kernel and override-constant set).
    pub pipelines: usize,
    /// Live buffers: tensors, scratch, `Params` uniforms, the kept readback buffer.
    pub buffers: usize,
    /// Bytes of the live buffers.
    pub live_bytes: u64,
    /// Most bytes held at once so far.
    pub peak_bytes: u64,
    pub bind_groups_created: u64,
    pub pipelines_created: u64,
    pub buffers_created: u64,
}

impl std::fmt::Display for GpuCacheStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bind groups, {} pipelines, {} buffers, {} bytes live \
             (created so far: {} bind groups, {} pipelines, {} buffers)",
            self.bind_groups,
            self.pipelines,
            self.buffers,
            self.live_bytes,
            self.bind_groups_created,
            self.pipelines_created,
            self.buffers_created
        )
    }
}

/// Ids of dropped buffers, shared with every tensor so `Drop` can report them.
pub type DeadList = Rc<RefCell<Vec<u64>>>;

#[derive(Default)]
pub struct Ledger {
    next_id: Cell<u64>,
    /// Ids reported dropped (by tensors, or by the recorder for replaced scratch buffers) and not
    /// yet taken by [`Ledger::take_dead`].
    pub(crate) dead: DeadList,
    /// Bytes of every live buffer by id.
    sizes: RefCell<HashMap<u64, u64>>,
    live: Cell<u64>,
    peak: Cell<u64>,
    /// Buffers created since the backend was opened.
    created: Cell<u64>,
}

impl Ledger {
    /// A fresh id, not tied to any size (ids are unique across buffers).
    pub fn next_id(&self) -> u64 {
        let id = self.next_id.get() + 1;
        self.next_id.set(id);
        id
    }

    /// Records a new buffer of `size` bytes; returns its id.
    pub fn add(&self, size: u64) -> u64 {
        let id = self.next_id();
        self.sizes.borrow_mut().insert(id, size);
        self.live.set(self.live.get() + size);
        self.peak.set(self.peak.get().max(self.live.get()));
        self.created.set(self.created.get() + 1);
        id
    }

    /// Records that buffer `id` is gone (a no-op for an id without a size).
    pub fn release(&self, id: u64) {
        if let Some(b) = self.sizes.borrow_mut().remove(&id) {
            self.live.set(self.live.get() - b);
        }
    }

    /// Takes the ids reported dropped since the last call and releases their sizes.
    pub fn take_dead(&self) -> Vec<u64> {
        let dead = std::mem::take(&mut *self.dead.borrow_mut());
        for &id in &dead {
            self.release(id);
        }
        dead
    }

    /// Bytes held now (dropped buffers not yet taken by [`Ledger::take_dead`] included).
    pub fn live(&self) -> u64 {
        self.live.get()
    }

    /// Most bytes held at once so far.
    pub fn peak(&self) -> u64 {
        self.peak.get()
    }

    /// Starts the peak again from what is held now (to measure one phase of a run).
    pub fn restart_peak(&self) {
        self.peak.set(self.live.get());
    }

    /// Buffers held now.
    pub fn count(&self) -> usize {
        self.sizes.borrow().len()
    }

    /// Buffers created so far.
    pub fn created(&self) -> u64 {
        self.created.get()
    }
}
