//! The native command line over the svdtune library: one file per subcommand, dispatched by
//! `cli.rs`. Every subcommand reports failures as `error: …` on stderr and exit status 1.
#[cfg(not(target_arch = "wasm32"))]
mod backend_choice;
#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod bench_figures;
#[cfg(not(target_arch = "wasm32"))]
mod bench_flops;
#[cfg(not(target_arch = "wasm32"))]
mod check;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod data;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod export_gguf;
#[cfg(not(target_arch = "wasm32"))]
mod generate;
#[cfg(not(target_arch = "wasm32"))]
mod gpu_autotune;
#[cfg(not(target_arch = "wasm32"))]
mod import_gguf;
#[cfg(not(target_arch = "wasm32"))]
mod inspect;
#[cfg(not(target_arch = "wasm32"))]
mod inspect_memory;
#[cfg(not(target_arch = "wasm32"))]
mod model_arg;
#[cfg(not(target_arch = "wasm32"))]
mod train;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    // Output piped into a program that stops reading (`svdtune inspect --json | head`) ends the
    // process quietly, as for other command-line tools, instead of a panic in `println!`.
    #[cfg(unix)]
    // Safety: restoring the default disposition of one signal, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The command runs on a worker of the CPU backend's thread pool: its matrix products then
    // split work between workers directly instead of waking the pool (and waiting to be woken)
    // from outside for each product, which costs tens of microseconds per product on a VM.
    rayon::ThreadPoolBuilder::new()
        .build()
        .map_or_else(|_| cli::main(), |pool| pool.install(cli::main))
}

#[cfg(target_arch = "wasm32")]
fn main() {}
