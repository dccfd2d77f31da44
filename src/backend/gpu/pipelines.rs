//! The GPU backend's compiled kernels: bind group and pipeline layouts once per kernel, and
//! pipelines once per kernel, override-constant set and module variant (without runtime checks
//! natively for the kernels proven in range, f16 workgroup tiles; see [`GpuTuning`]).
use super::kernels::{Access, Kernel};
use super::tuning::GpuTuning;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// A kernel's name, its override constants (as bits), whether it runs unchecked and whether its
/// tiles are f16.
type PipelineKey = (&'static str, Vec<(&'static str, u64)>, bool, bool, bool);

/// A kernel's bind group layout and pipeline layout.
pub type Layouts = (wgpu::BindGroupLayout, wgpu::PipelineLayout);

/// The layouts and pipelines made so far.
#[derive(Default)]
pub struct Pipelines {
    layouts: RefCell<HashMap<&'static str, Rc<Layouts>>>,
    pipelines: RefCell<HashMap<PipelineKey, Rc<wgpu::ComputePipeline>>>,
    created: Cell<u64>,
}

impl Pipelines {
    /// Pipelines held now.
    pub fn len(&self) -> usize {
        self.pipelines.borrow().len()
    }

    /// Pipelines created so far.
    pub fn created(&self) -> u64 {
        self.created.get()
    }

    /// The bind group layout (uniform at binding 0, the kernel's storage at 1..=N) and pipeline
    /// layout of `k`.
    pub fn layout(&self, device: &wgpu::Device, k: &Kernel) -> Rc<Layouts> {
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

    /// The pipeline of `k` with override `constants`, from a module with or without runtime
    /// checks, with f32 or f16 tiles and with reductions in workgroup memory or over subgroups, as
    /// `tuning` says for this kernel.
    pub fn get(
        &self,
        device: &wgpu::Device,
        k: &Kernel,
        constants: &[(&'static str, f64)],
        tuning: GpuTuning,
    ) -> Rc<wgpu::ComputePipeline> {
        let unchecked = tuning.unchecked_tiles && k.proven_in_range();
        let f16 = tuning.f16_tiles && k.has_tiles();
        let subgroups = tuning.subgroup_reduce && k.has_workgroup_reduce();
        let key: PipelineKey = (
            k.name,
            constants.iter().map(|(n, v)| (*n, v.to_bits())).collect(),
            unchecked,
            f16,
            subgroups,
        );
        if let Some(p) = self.pipelines.borrow().get(&key) {
            return p.clone();
        }
        let layout = self.layout(device, k);
        let source = if f16 || subgroups {
            k.source_variant(f16, subgroups).into()
        } else {
            k.source.into()
        };
        let desc = wgpu::ShaderModuleDescriptor {
            label: Some(k.name),
            source: wgpu::ShaderSource::Wgsl(source),
        };
        let module = if unchecked {
            // Safety: the kernel forms only in-range indices and ends every loop
            // (`Kernel::proven_in_range`); in browsers this is the checked call.
            unsafe {
                device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked())
            }
        } else {
            device.create_shader_module(desc)
        };
        let pipeline = Rc::new(
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(k.name),
                layout: Some(&layout.1),
                module: &module,
                entry_point: Some(k.entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            }),
        );
        self.created.set(self.created.get() + 1);
        self.pipelines.borrow_mut().insert(key, pipeline.clone());
        pipeline
    }
}
