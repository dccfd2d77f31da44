//! GPU encoders for masked cross-entropy and the total sum.
use crate::backend::gpu::recorder::Recorder;
use crate::backend::gpu::{GpuIds, GpuTensor};
use crate::error::Result;

#[allow(clippy::too_many_arguments)]
pub fn cross_entropy(_rec: &Recorder, _logits: &mut GpuTensor, _targets: &GpuIds, _weights: &GpuTensor, _row_offset: usize, _scale: f32, _losses: &mut GpuTensor, _dims: (usize, usize, usize)) -> Result<()> {
    todo!()
}

pub fn sum(_rec: &Recorder, _x: &GpuTensor, _out: &mut GpuTensor) -> Result<()> {
    todo!()
}
