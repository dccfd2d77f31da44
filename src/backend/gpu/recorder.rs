//! Records kernel dispatches into one command encoder and submits them together.
//!
//! Pipelines and bind group layouts are made once per kernel and variant (`pipelines.rs`).
//! Bind groups and their `Params` uniform buffers are cached by (kernel, buffer ids, params
//! bytes): a training step that repeats the same calls on the same buffers creates nothing after
//! its first run (creating and first binding a buffer is expensive in WebGPU). Values that change
//! every step (AdamW's step size, decay and bias correction, the loss scale of a batch) are
//! passed apart from the params ([`Recorder::dispatch_stepped`]): they sit after the params in
//! the same uniform, are not part of the key, and are rewritten in place with
//! `queue.write_buffer` when they change, so the cache stays the same size however many steps
//! run. Entries that name a dropped tensor are purged (with their uniforms) at the next flush.
//!
//! Every buffer made here is counted by the [`Ledger`] (tensors, scratch, uniforms, the readback
//! staging buffer); [`GpuCacheStats`] reports the counts.
use super::context::GpuContext;
use super::kernels::{Access, Kernel};
use super::ledger::{DeadList, Ledger};
pub use super::ledger::{GpuCacheStats, GpuMemory};
use super::pipelines::Pipelines;
use super::tuning::GpuTuning;
use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use wgpu::util::DeviceExt;

/// A storage buffer with the id the caches know it by, whole or a `(offset, size)` byte range
/// of it (a tensor placed in a shared buffer: [`super::GpuBackend`]'s `group_kernel`).
#[derive(Clone, Copy)]
pub struct BufRef<'a> {
    pub id: u64,
    pub buf: &'a wgpu::Buffer,
    pub range: Option<(u64, u64)>,
    /// The placeholder of a tensor held in row blocks (see `split.rs`): never bound.
    pub split: bool,
}

impl<'a> BufRef<'a> {
    /// A whole buffer (not a range, not a blocked matrix's placeholder).
    pub fn whole(id: u64, buf: &'a wgpu::Buffer) -> Self {
        BufRef {
            id,
            buf,
            range: None,
            split: false,
        }
    }
    /// The binding of this buffer or range.
    fn resource(&self) -> wgpu::BindingResource<'a> {
        match self.range {
            None => self.buf.as_entire_binding(),
            Some((offset, size)) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: self.buf,
                offset,
                size: std::num::NonZeroU64::new(size),
            }),
        }
    }
}

/// (kernel, storage buffer ids, the fixed params bytes).
type BindKey = (&'static str, Vec<u64>, Vec<u8>);

/// One cached bind group and the uniform it owns.
struct BindEntry {
    ids: Vec<u64>,
    group: wgpu::BindGroup,
    uniform: wgpu::Buffer,
    /// The uniform's id in the ledger.
    uniform_id: u64,
    /// The per-step bytes the uniform holds after the fixed params.
    step: Vec<u8>,
    /// The submit these bindings were last recorded for (`Recorder::submits` then).
    recorded: u64,
}

pub struct Recorder {
    pub ctx: GpuContext,
    /// The kernel variants and workgroup shapes in use (see [`GpuTuning`]).
    pub tuning: Cell<GpuTuning>,
    pub(super) ledger: Ledger,
    pub(crate) dead: DeadList,
    pipelines: Pipelines,
    bind_groups: RefCell<HashMap<BindKey, BindEntry>>,
    encoder: RefCell<Option<wgpu::CommandEncoder>>,
    pass: RefCell<Option<wgpu::ComputePass<'static>>>,
    scratch: RefCell<HashMap<&'static str, (u64, wgpu::Buffer)>>,
    /// The kept readback buffer (taken out while a read uses it).
    pub(super) staging: RefCell<Option<(u64, wgpu::Buffer)>>,
    /// Flushes so far: work recorded since the last one is tagged with this number.
    submits: Cell<u64>,
    bind_groups_created: Cell<u64>,
    /// Dispatches recorded per kernel since the last [`Recorder::take_dispatch_counts`].
    dispatches: RefCell<HashMap<&'static str, u64>>,
    /// Transfer commands (copies, clears) recorded since then.
    transfers: Cell<u64>,
    /// The kernel of each timed dispatch and its clock while a profile is open (`profile.rs`).
    pub(super) profile: RefCell<Option<super::profile::Profile>>,
    /// Record only: commands are recorded and every buffer made, but no command is submitted
    /// (only queue writes land), so a run's buffer bytes are counted without running it.
    pub(super) record_only: Cell<bool>,
}

/// Usage of every tensor buffer: bound as storage, copied in and out.
pub const TENSOR_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Splits `groups` workgroups into an `[x, y, 1]` grid within the per-dimension limit; shaders
/// recover the linear index as `wid.x + wid.y · num_workgroups.x` and skip indices past the end.
pub fn grid(groups: u32) -> [u32; 3] {
    const MAX: u32 = 65535;
    if groups <= MAX {
        [groups.max(1), 1, 1]
    } else {
        [MAX, groups.div_ceil(MAX), 1]
    }
}

impl Recorder {
    pub fn new(ctx: GpuContext) -> Self {
        let ledger = Ledger::default();
        let dead = ledger.dead.clone();
        Recorder {
            ctx,
            tuning: Cell::new(GpuTuning::default()),
            ledger,
            dead,
            pipelines: Pipelines::default(),
            bind_groups: RefCell::default(),
            encoder: RefCell::new(None),
            pass: RefCell::new(None),
            scratch: RefCell::default(),
            staging: RefCell::new(None),
            submits: Cell::new(0),
            bind_groups_created: Cell::new(0),
            dispatches: RefCell::default(),
            transfers: Cell::new(0),
            profile: RefCell::new(None),
            record_only: Cell::new(false),
        }
    }

    /// Buffer bytes held now and at most so far.
    pub fn memory(&self) -> GpuMemory {
        self.collect();
        GpuMemory {
            live_bytes: self.ledger.live(),
            peak_bytes: self.ledger.peak(),
        }
    }

    /// The caches' sizes and the creation totals (see [`GpuCacheStats`]).
    pub fn stats(&self) -> GpuCacheStats {
        self.collect();
        GpuCacheStats {
            bind_groups: self.bind_groups.borrow().len(),
            pipelines: self.pipelines.len(),
            buffers: self.ledger.count(),
            live_bytes: self.ledger.live(),
            peak_bytes: self.ledger.peak(),
            bind_groups_created: self.bind_groups_created.get(),
            pipelines_created: self.pipelines.created(),
            buffers_created: self.ledger.created(),
        }
    }

    /// Forgets the buffers dropped so far: their bytes, and the cached bind groups (with their
    /// uniforms) that name them. Commands already recorded keep what they use alive in wgpu.
    pub(super) fn collect(&self) {
        let dead = self.ledger.take_dead();
        if dead.is_empty() {
            return;
        }
        self.bind_groups.borrow_mut().retain(|_, e| {
            let keep = !e.ids.iter().any(|id| dead.contains(id));
            if !keep {
                self.ledger.release(e.uniform_id);
            }
            keep
        });
    }

    /// A fresh buffer id.
    pub fn next_id(&self) -> u64 {
        self.ledger.next_id()
    }

    /// Checks that one binding of `bytes` fits this device.
    pub fn check_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = self.ctx.max_binding_bytes();
        if bytes > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
                kind: "storage binding",
            });
        }
        Ok(())
    }

    /// A storage buffer of at least `bytes` (rounded up to 4, at least 4), optionally filled.
    pub fn buffer(
        &self,
        label: &str,
        bytes: u64,
        contents: Option<&[u8]>,
    ) -> Result<(u64, wgpu::Buffer)> {
        self.check_size(label, bytes)?;
        self.create(label, bytes, TENSOR_USAGE, contents)
    }

    /// Any buffer of at least `bytes` (rounded up to 4, at least 4), optionally filled, refused
    /// past the memory budget and counted in the ledger. Every buffer of the backend is made here.
    pub(super) fn create(
        &self,
        label: &str,
        bytes: u64,
        usage: wgpu::BufferUsages,
        contents: Option<&[u8]>,
    ) -> Result<(u64, wgpu::Buffer)> {
        let size = bytes.max(4).div_ceil(4) * 4;
        let out_of_memory = |limit| Error::OutOfMemory {
            device: "GPU",
            what: label.to_string(),
            bytes: Some(size),
            held: self.ledger.live(),
            limit,
        };
        if let Some(cap) = self.ctx.memory_cap() {
            self.collect();
            if self.ledger.live() + size > cap {
                return Err(out_of_memory(Some(cap)));
            }
        }
        let buf = match contents {
            Some(data) if data.len() as u64 == size => {
                self.ctx
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some(label),
                        contents: data,
                        usage,
                    })
            }
            _ => {
                let buf = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage,
                    mapped_at_creation: false,
                });
                if let Some(data) = contents {
                    self.ctx.queue.write_buffer(&buf, 0, data);
                }
                buf
            }
        };
        // Natively wgpu reports a refused allocation right away; in the browser the error
        // arrives later and `take_error` reports it.
        if self.ctx.take_oom().is_some() {
            return Err(out_of_memory(self.ctx.memory_cap()));
        }
        Ok((self.ledger.add(size), buf))
    }

    /// A backend-owned scratch buffer of at least `bytes`, reused across calls (work is ordered,
    /// so consecutive dispatches may share it). Grows when a larger size is asked for.
    pub fn scratch(&self, name: &'static str, bytes: u64) -> Result<(u64, wgpu::Buffer)> {
        let mut map = self.scratch.borrow_mut();
        if let Some((id, buf)) = map.get(name)
            && buf.size() >= bytes
        {
            return Ok((*id, buf.clone()));
        }
        let (id, buf) = self.buffer(name, bytes.max(256), None)?;
        if let Some((old, _)) = map.insert(name, (id, buf.clone())) {
            self.dead.borrow_mut().push(old);
        }
        Ok((id, buf))
    }

    /// Records one dispatch of `k` with uniform `params`, storage buffers `bufs` (bindings
    /// 1..=N) and a workgroup grid.
    pub fn dispatch<P: bytemuck::Pod>(
        &self,
        k: &Kernel,
        constants: &[(&'static str, f64)],
        params: &P,
        bufs: &[BufRef],
        groups: [u32; 3],
    ) -> Result<()> {
        self.dispatch_stepped(k, constants, params, &(), bufs, groups)
    }

    /// As [`Recorder::dispatch`], with values that change from step to step in `step`. The
    /// uniform holds the bytes of `params` then those of `step` (the shader's `Params` lists the
    /// fields in that order; all are 4-byte scalars, so there is no padding between them). Only
    /// `params` enters the cache key: a new `step` rewrites the cached uniform in place. If the
    /// bindings were already recorded since the last submit with other values, that work is
    /// submitted first, since a queue write lands before every command of the next submit.
    pub fn dispatch_stepped<P: bytemuck::Pod, S: bytemuck::Pod>(
        &self,
        k: &Kernel,
        constants: &[(&'static str, f64)],
        params: &P,
        step: &S,
        bufs: &[BufRef],
        groups: [u32; 3],
    ) -> Result<()> {
        self.check_bindings(k, bufs)?;
        // A profiled dispatch runs in a pass of its own: timed at both ends, or (the wall
        // clock) submitted alone after the work before it has finished.
        let timed = self.profile_slot(k.name);
        let wall_clock = matches!(timed, Some(None));
        if wall_clock {
            self.wall_clock_before()?;
        }
        let fixed = bytemuck::bytes_of(params);
        let step = bytemuck::bytes_of(step);
        if !fixed.len().is_multiple_of(4) {
            return Err(Error::param(
                "dispatch",
                format!("kernel {}: params of {} bytes", k.name, fixed.len()),
            ));
        }
        let pipeline = self
            .pipelines
            .get(&self.ctx.device, k, constants, self.tuning.get());
        let key: BindKey = (k.name, bufs.iter().map(|b| b.id).collect(), fixed.to_vec());
        let stale_in_flight = self
            .bind_groups
            .borrow()
            .get(&key)
            .is_some_and(|e| e.step != step && e.recorded == self.submits.get());
        if stale_in_flight {
            self.flush()?;
        }
        let cached = self.bind_groups.borrow_mut().get_mut(&key).map(|e| {
            if e.step != step {
                self.ctx
                    .queue
                    .write_buffer(&e.uniform, fixed.len() as u64, step);
                e.step = step.to_vec();
            }
            e.recorded = self.submits.get();
            e.group.clone()
        });
        let bg = match cached {
            Some(bg) => bg,
            None => self.bind(k, key, step, bufs)?,
        };
        let mut pass_slot = self.pass.borrow_mut();
        if timed.is_some() {
            pass_slot.take();
        }
        let pass = pass_slot.get_or_insert_with(|| {
            let mut enc_slot = self.encoder.borrow_mut();
            let enc = enc_slot
                .get_or_insert_with(|| self.ctx.device.create_command_encoder(&Default::default()));
            let timestamp_writes = timed.as_ref().and_then(Option::as_ref).map(|(set, i)| {
                wgpu::ComputePassTimestampWrites {
                    query_set: set,
                    beginning_of_pass_write_index: Some(*i),
                    end_of_pass_write_index: Some(*i + 1),
                }
            });
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("svdtune"),
                timestamp_writes,
            })
            .forget_lifetime()
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        if timed.is_some() {
            pass_slot.take();
        }
        drop(pass_slot);
        *self.dispatches.borrow_mut().entry(k.name).or_default() += 1;
        if wall_clock {
            self.wall_clock_after()?;
        }
        Ok(())
    }

    /// Refuses a binding list that does not match the kernel, or that binds one tensor twice
    /// where one of the bindings is written.
    fn check_bindings(&self, k: &Kernel, bufs: &[BufRef]) -> Result<()> {
        if bufs.len() != k.storage.len() {
            return Err(Error::param(
                "dispatch",
                format!(
                    "kernel {} binds {} storage buffers, got {}",
                    k.name,
                    k.storage.len(),
                    bufs.len()
                ),
            ));
        }
        if let Some(i) = bufs.iter().position(|b| b.split) {
            return Err(Error::Unsupported(format!(
                "kernel {} cannot take binding {}: a matrix larger than this device's {}-byte \
                 storage binding, held in row blocks (only the embedding gather, matrix \
                 products, the merge and reads take those)",
                k.name,
                i + 1,
                self.ctx.max_binding_bytes()
            )));
        }
        for (i, a) in bufs.iter().enumerate() {
            for (j, b) in bufs.iter().enumerate().skip(i + 1) {
                if a.id == b.id
                    && (k.storage[i] == Access::ReadWrite || k.storage[j] == Access::ReadWrite)
                {
                    return Err(Error::param(
                        "dispatch",
                        format!(
                            "kernel {}: the same tensor is bound at {} and {} and one of them is written",
                            k.name,
                            i + 1,
                            j + 1
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Creates, caches and returns the bind group of `key` with a new uniform holding the fixed
    /// params (`key.2`) then `step`, padded to 16 bytes.
    fn bind(
        &self,
        k: &Kernel,
        key: BindKey,
        step: &[u8],
        bufs: &[BufRef],
    ) -> Result<wgpu::BindGroup> {
        let mut bytes = [key.2.as_slice(), step].concat();
        bytes.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
        let usage = wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST;
        let (uniform_id, uniform) =
            self.create("params", bytes.len() as u64, usage, Some(&bytes))?;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (i, b) in bufs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: b.resource(),
            });
        }
        let group = self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(k.name),
                layout: &self.pipelines.layout(&self.ctx.device, k).0,
                entries: &entries,
            });
        self.bind_groups_created
            .set(self.bind_groups_created.get() + 1);
        let entry = BindEntry {
            ids: key.1.clone(),
            group: group.clone(),
            uniform,
            uniform_id,
            step: step.to_vec(),
            recorded: self.submits.get(),
        };
        if let Some(old) = self.bind_groups.borrow_mut().insert(key, entry) {
            self.ledger.release(old.uniform_id);
        }
        Ok(group)
    }

    /// Runs `f` on the open command encoder (ending the compute pass first), for copies.
    /// Each call counts as one transfer command.
    pub fn with_encoder(&self, f: impl FnOnce(&mut wgpu::CommandEncoder)) {
        self.transfers.set(self.transfers.get() + 1);
        self.pass.borrow_mut().take();
        let mut enc_slot = self.encoder.borrow_mut();
        let enc = enc_slot
            .get_or_insert_with(|| self.ctx.device.create_command_encoder(&Default::default()));
        f(enc);
    }

    /// Submits everything recorded so far and drops cache entries of dropped tensors.
    pub fn flush(&self) -> Result<()> {
        self.pass.borrow_mut().take();
        if let Some(enc) = self.encoder.borrow_mut().take() {
            if self.record_only.get() {
                // The queue writes still land (uploads are part of the count), the commands not.
                drop(enc);
                self.ctx.queue.submit(std::iter::empty());
            } else {
                self.ctx.queue.submit([enc.finish()]);
            }
        }
        self.submits.set(self.submits.get() + 1);
        self.collect();
        self.ctx.take_error(self.ledger.live())
    }

    /// The dispatches recorded per kernel since the last call (or since the start), largest
    /// count first; the counts start again from zero.
    pub fn take_dispatch_counts(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<_> = self.dispatches.borrow_mut().drain().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v
    }

    /// The transfer commands (buffer copies and clears, not dispatches) recorded since the last
    /// call; the count starts again from zero.
    pub fn take_transfer_count(&self) -> u64 {
        self.transfers.replace(0)
    }

    /// Number of cached bind groups (for tests of the cache).
    pub fn cached_bind_groups(&self) -> usize {
        self.stats().bind_groups
    }
}
