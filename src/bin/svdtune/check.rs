//! `svdtune check`: open the GPU, print the adapter and its limits, and compare every op of the
//! GPU backend with the CPU reference on deterministic inputs (exit status 1 on a mismatch).
use std::process::ExitCode;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::GpuBackend;
use svdtune::backend::selfcheck;

pub fn run() -> svdtune::Result<ExitCode> {
    let gpu = pollster::block_on(GpuBackend::new())?;
    let limits = gpu.context().device.limits();
    println!("adapter: {}", gpu.name());
    println!(
        "limits: max storage binding {} MiB, max buffer {} MiB, {} storage buffers per stage",
        limits.max_storage_buffer_binding_size >> 20,
        limits.max_buffer_size >> 20,
        limits.max_storage_buffers_per_shader_stage
    );
    let started = std::time::Instant::now();
    let results = pollster::block_on(selfcheck::compare(&gpu, &CpuBackend))?;
    let mut ok = true;
    for r in &results {
        println!(
            "{:<14} max error {:.2e}  {}",
            r.op,
            r.max_error,
            if r.passed { "ok" } else { "MISMATCH" }
        );
        ok &= r.passed;
    }
    println!(
        "checked {} ops in {:.1} s: {}",
        results.len(),
        started.elapsed().as_secs_f64(),
        if ok { "all ok" } else { "FAILED" }
    );
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
