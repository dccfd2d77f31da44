//! GPU encoders for causal grouped-query attention, forward and backward.
use crate::backend::AttentionDims;
use crate::backend::gpu::recorder::Recorder;
use crate::backend::gpu::{GpuIds, GpuTensor};
use crate::error::Result;

#[allow(clippy::too_many_arguments)]
pub fn forward(_rec: &Recorder, _q: &GpuTensor, _k: &GpuTensor, _v: &GpuTensor, _window_start: &GpuIds, _dims: &AttentionDims, _out: &mut GpuTensor, _lse: &mut GpuTensor) -> Result<()> {
    todo!()
}

#[allow(clippy::too_many_arguments)]
pub fn backward(_rec: &Recorder, _q: &GpuTensor, _k: &GpuTensor, _v: &GpuTensor, _window_start: &GpuIds, _dims: &AttentionDims, _out: &GpuTensor, _lse: &GpuTensor, _dout: &GpuTensor, _dq: &mut GpuTensor, _dk: &mut GpuTensor, _dv: &mut GpuTensor) -> Result<()> {
    todo!()
}
