//! Records kernel dispatches into one command encoder and submits them together.
//!
//! Pipelines and bind group layouts are created once per kernel (and override-constant set).
//! Bind groups and their `Params` uniform buffers are cached by (kernel, buffer ids, params
//! bytes): a training step that repeats the same calls on the same buffers creates nothing after
//! its first run (creating and first binding a buffer is expensive in WebGPU). Entries that name a
//! dropped tensor are purged at the next flush.
use super::context::GpuContext;
use super::kernels::{Access, Kernel};
use crate::error::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wgpu::util::DeviceExt;

/// A storage buffer with the id the caches know it by.
#[derive(Clone, Copy)]
pub struct BufRef<'a> {
    pub id: u64,
    pub buf: &'a wgpu::Buffer,
}

type PipelineKey = (&'static str, Vec<(&'static str, u64)>);
type BindKey = (&'static str, Vec<u64>, Vec<u8>);

/// Ids of dropped buffers, shared with every tensor so `Drop` can report them.
pub type DeadList = Rc<RefCell<Vec<u64>>>;

pub struct Recorder {
    pub ctx: GpuContext,
    next_id: Cell<u64>,
    pub(crate) dead: DeadList,
    layouts: RefCell<HashMap<&'static str, Rc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>>>,
    pipelines: RefCell<HashMap<PipelineKey, Rc<wgpu::ComputePipeline>>>,
    bind_groups: RefCell<HashMap<BindKey, (Vec<u64>, wgpu::BindGroup)>>,
    encoder: RefCell<Option<wgpu::CommandEncoder>>,
    pass: RefCell<Option<wgpu::ComputePass<'static>>>,
    scratch: RefCell<HashMap<&'static str, (u64, wgpu::Buffer)>>,
    /// Bytes of every live buffer by id, and the running and peak totals (`memory`).
    sizes: RefCell<HashMap<u64, u64>>,
    live: Cell<u64>,
    peak: Cell<u64>,
}

/// Bytes of GPU buffers the backend holds now and has held at most (buffers freed since the
/// last flush still count: the peak errs high, never low).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuMemory {
    pub live_bytes: u64,
    pub peak_bytes: u64,
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
        Recorder {
            ctx,
            next_id: Cell::new(1),
            dead: Rc::new(RefCell::new(Vec::new())),
            layouts: RefCell::default(),
            pipelines: RefCell::default(),
            bind_groups: RefCell::default(),
            encoder: RefCell::new(None),
            pass: RefCell::new(None),
            scratch: RefCell::default(),
            sizes: RefCell::default(),
            live: Cell::new(0),
            peak: Cell::new(0),
        }
    }

    /// Buffer bytes held now and at most so far.
    pub fn memory(&self) -> GpuMemory {
        self.forget_dead_sizes();
        GpuMemory {
            live_bytes: self.live.get(),
            peak_bytes: self.peak.get(),
        }
    }

    /// Counts the buffers dropped so far as freed.
    fn forget_dead_sizes(&self) {
        let dead = self.dead.borrow();
        let mut sizes = self.sizes.borrow_mut();
        for id in dead.iter() {
            if let Some(b) = sizes.remove(id) {
                self.live.set(self.live.get() - b);
            }
        }
    }

    /// A fresh buffer id.
    pub fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
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
        let size = bytes.max(4).div_ceil(4) * 4;
        let out_of_memory = |limit| Error::OutOfMemory {
            device: "GPU",
            what: label.to_string(),
            bytes: Some(size),
            held: self.live.get(),
            limit,
        };
        if let Some(cap) = self.ctx.memory_cap() {
            self.forget_dead_sizes();
            if self.live.get() + size > cap {
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
                        usage: TENSOR_USAGE,
                    })
            }
            _ => {
                let buf = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage: TENSOR_USAGE,
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
        let id = self.next_id();
        self.sizes.borrow_mut().insert(id, size);
        self.live.set(self.live.get() + size);
        self.peak.set(self.peak.get().max(self.live.get()));
        Ok((id, buf))
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

    fn layout(&self, k: &Kernel) -> Rc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)> {
        if let Some(l) = self.layouts.borrow().get(k.name) {
            return l.clone();
        }
        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, acc) in k.storage.iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *acc == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let device = &self.ctx.device;
        let bgl = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(k.name),
            entries: &entries,
        });
        let pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(k.name),
            bind_group_layouts: &[Some(&bgl)],
            immediate_size: 0,
        });
        let l = Rc::new((bgl, pl));
        self.layouts.borrow_mut().insert(k.name, l.clone());
        l
    }

    fn pipeline(&self, k: &Kernel, constants: &[(&'static str, f64)]) -> Rc<wgpu::ComputePipeline> {
        let key: PipelineKey = (
            k.name,
            constants.iter().map(|(n, v)| (*n, v.to_bits())).collect(),
        );
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return p.clone();
        }
        let layout = self.layout(k);
        let device = &self.ctx.device;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(k.name),
            source: wgpu::ShaderSource::Wgsl(k.source.into()),
        });
        let pipeline = Rc::new(
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.name),
                layout: Some(&layout.1),
                module: &module,
                entry_point: Some(k.name),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            }),
        );
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        pipeline
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
        let pipeline = self.pipeline(k, constants);
        let mut bytes = bytemuck::bytes_of(params).to_vec();
        bytes.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
        let ids: Vec<u64> = bufs.iter().map(|b| b.id).collect();
        let key: BindKey = (k.name, ids.clone(), bytes);
        let mut cache = self.bind_groups.borrow_mut();
        if !cache.contains_key(&key) {
            let device = &self.ctx.device;
            let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: &key.2,
                usage: wgpu::BufferUsages::UNIFORM,
            });
            let mut entries = vec![wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            }];
            for (i, b) in bufs.iter().enumerate() {
                entries.push(wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: b.buf.as_entire_binding(),
                });
            }
            let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(k.name),
                layout: &self.layout(k).0,
                entries: &entries,
            });
            cache.insert(key.clone(), (ids, bg));
        }
        let bg = &cache[&key].1;
        let mut pass_slot = self.pass.borrow_mut();
        let pass = pass_slot.get_or_insert_with(|| {
            let mut enc_slot = self.encoder.borrow_mut();
            let enc = enc_slot
                .get_or_insert_with(|| self.ctx.device.create_command_encoder(&Default::default()));
            enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("svdtune"),
                timestamp_writes: None,
            })
            .forget_lifetime()
        });
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        Ok(())
    }

    /// Runs `f` on the open command encoder (ending the compute pass first), for copies.
    pub fn with_encoder(&self, f: impl FnOnce(&mut wgpu::CommandEncoder)) {
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
            self.ctx.queue.submit([enc.finish()]);
        }
        self.forget_dead_sizes();
        let dead: Vec<u64> = std::mem::take(&mut *self.dead.borrow_mut());
        if !dead.is_empty() {
            self.bind_groups
                .borrow_mut()
                .retain(|_, (ids, _)| !ids.iter().any(|id| dead.contains(id)));
        }
        self.ctx.take_error(self.live.get())
    }

    /// Copies `bytes` bytes of `src` to the host after all recorded work.
    pub async fn read_bytes(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.max(4).div_ceil(4) * 4;
        let staging = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.with_encoder(|enc| enc.copy_buffer_to_buffer(src, 0, &staging, 0, size));
        self.flush()?;
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.ctx.poll_wait()?;
        let mapped = rx.await;
        self.ctx.check_lost()?;
        mapped
            .map_err(|_| Error::Device("readback was cancelled".into()))?
            .map_err(|e| Error::Device(format!("readback: {e}")))?;
        let out = {
            let view = staging
                .get_mapped_range(..)
                .map_err(|e| Error::Device(format!("readback: {e:?}")))?;
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        self.ctx.take_error(self.live.get())?;
        Ok(out)
    }

    /// Number of cached bind groups (for tests of the cache).
    pub fn cached_bind_groups(&self) -> usize {
        self.bind_groups.borrow().len()
    }
}
