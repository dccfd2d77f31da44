//! What the commands that run a model share: `--backend auto|cpu|gpu` and loading a model folder
//! with a progress bar. `auto` takes a hardware GPU when there is one; it takes the CPU backend
//! when there is no adapter or when the only one is a GPU emulated in software (llvmpipe,
//! lavapipe, SwiftShader, WARP: far slower than the CPU backend), and says on stderr which
//! backend it chose and why. `gpu` takes whatever adapter there is. A hardware GPU gets the
//! matmul tile size measured for it (`gpu_autotune.rs`).
use clap::ValueEnum;
use svdtune::backend::gpu::GpuBackend;
use svdtune::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    Auto,
    Cpu,
    Gpu,
}

/// The GPU backend, `None` for the CPU one; `auto` says on stderr which one it chose and why.
pub fn open_gpu(choice: BackendChoice) -> Result<Option<GpuBackend>> {
    match choice {
        BackendChoice::Cpu => Ok(None),
        BackendChoice::Gpu => {
            let g = pollster::block_on(GpuBackend::new())?;
            crate::gpu_autotune::apply(&g)?;
            Ok(Some(g))
        }
        BackendChoice::Auto => match pollster::block_on(GpuBackend::new()) {
            Ok(g) => match g.context().software_reason() {
                Some(why) => {
                    eprintln!(
                        "backend: CPU ({why}, much slower than the CPU backend; \
                         --backend gpu uses it anyway)"
                    );
                    Ok(None)
                }
                None => {
                    eprintln!("backend: GPU, {}", g.context().describe());
                    crate::gpu_autotune::apply(&g)?;
                    Ok(Some(g))
                }
            },
            Err(Error::NoAdapter(why)) => {
                eprintln!("backend: CPU (no GPU adapter: {why})");
                Ok(None)
            }
            Err(e) => Err(e),
        },
    }
}

/// A progress bar on stderr for loading `total` tensors.
pub fn load_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Loads the model of `files` onto `be`, with a progress bar on stderr.
pub fn load_model<B: svdtune::backend::Backend, F: svdtune::model::ModelFiles>(
    be: &B,
    files: &F,
) -> Result<svdtune::model::Model<B>> {
    let bar = load_bar(0, "loading weights");
    let model = svdtune::model::Model::load(be, files, |done, total, _| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    Ok(model)
}
