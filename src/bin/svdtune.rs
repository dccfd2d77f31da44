//! The native command line over the svdtune library.
//!
//! `svdtune check`: open the GPU, print the adapter and its limits, and compare every op of the
//! GPU backend with the CPU reference on deterministic inputs (exit status 1 on a mismatch).
#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use clap::{Parser, Subcommand};
    use std::process::ExitCode;
    use svdtune::backend::Backend;
    use svdtune::backend::cpu::CpuBackend;
    use svdtune::backend::gpu::GpuBackend;
    use svdtune::selfcheck;

    #[derive(Parser)]
    #[command(
        name = "svdtune",
        version,
        about = "Fine-tune language models by training only the singular values of their weights"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Show the GPU adapter and check every GPU op against the CPU reference.
        Check,
    }

    pub fn main() -> ExitCode {
        match Cli::parse().command {
            Command::Check => check(),
        }
    }

    fn check() -> ExitCode {
        let gpu = match pollster::block_on(GpuBackend::new()) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let limits = gpu.context().device.limits();
        println!("adapter: {}", gpu.name());
        println!(
            "limits: max storage binding {} MiB, max buffer {} MiB, {} storage buffers per stage",
            limits.max_storage_buffer_binding_size >> 20,
            limits.max_buffer_size >> 20,
            limits.max_storage_buffers_per_shader_stage
        );
        let started = std::time::Instant::now();
        let results = match pollster::block_on(selfcheck::compare(&gpu, &CpuBackend)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
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
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
