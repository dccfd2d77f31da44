//! How the CLI behaves as a process on a user's machine: `--backend auto` (the default) never
//! trains on a GPU emulated in software and says which backend it chose and why; output into a
//! pipe whose reader has gone ends the process quietly (no panic message).
#![cfg(not(target_arch = "wasm32"))]
use std::process::{Command, Stdio};
use svdtune::backend::gpu::GpuBackend;
use svdtune::error::Error;

const MODEL: &str = "tests/fixtures/tiny-chat";
const DATA: &str = "tests/fixtures/tiny-chat/data.jsonl";

fn svdtune() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_svdtune"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

/// What `auto` must print on this machine: the CPU backend when the only adapter is software
/// (lavapipe in CI) or there is none, the GPU otherwise.
fn expected_choice() -> &'static str {
    match pollster::block_on(GpuBackend::new()) {
        Ok(g) if g.context().software_reason().is_some() => "backend: CPU (",
        Ok(_) => "backend: GPU, ",
        Err(Error::NoAdapter(_)) => "backend: CPU (no GPU adapter",
        Err(e) => panic!("opening the GPU failed: {e}"),
    }
}

#[test]
fn train_without_backend_never_uses_a_software_gpu() {
    let expected = expected_choice();
    let out_dir = std::env::temp_dir().join(format!("svdtune-auto-{}", std::process::id()));
    let out = svdtune()
        .args(["train", "--model", MODEL, "--data", DATA, "--out"])
        .arg(&out_dir)
        .args(["--seq-len", "32", "--max-steps", "2", "--eval-split", "0"])
        .output()
        .expect("svdtune runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(expected),
        "expected {expected:?} on stderr:\n{stderr}"
    );
    if expected == "backend: CPU (" {
        assert!(stderr.contains("software"), "the reason is given: {stderr}");
    }
    assert!(out_dir.join("model.safetensors").exists());
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn a_closed_pipe_ends_the_process_quietly() {
    let mut child = svdtune()
        .args(["inspect", MODEL, "--all-layers", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("svdtune runs");
    // The reader goes away before the first byte is written.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("svdtune ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "exit status {:?}: {stderr}",
        out.status
    );
}
