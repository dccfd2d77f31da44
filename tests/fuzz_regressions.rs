//! The fuzz corpora as regression tests, no fuzzer needed: every committed input of every fuzz
//! target (`fuzz/corpus/<target>/seed-*`) and every input that ever made a target fail
//! (`fuzz/regressions/<target>/*`: panics and timeouts, named after what they did) runs through
//! the target's own body (`fuzz/bodies/<target>.rs`, the same file the `fuzz_target!` wrapper
//! includes). A test fails on a panic, on an invariant the body asserts, or on an input that
//! does not finish within libFuzzer's `-timeout` in `fuzz/run.sh` (20 s; each input runs in its
//! own thread, so a runaway input fails the test at 20 s instead of holding it; the time bounds
//! of templates have their own tests in `tests/data_template.rs`). A stack overflow or an
//! allocation abort ends this process, which fails the run as well.
//!
//! Only committed files run by default: a fuzzing campaign grows `fuzz/corpus/<target>/` with
//! git-ignored inputs that differ per machine. `SVDTUNE_FUZZ_CORPUS=all` replays those too.
//! A crash input found by fuzzing goes into `fuzz/regressions/<target>/` once fixed
//! (`fuzz/run.sh` feeds that folder back to the fuzzer as a second corpus).
//! Measured: the 24 committed inputs take 0.03 s in a debug build (dependencies, minijinja
//! included, are built at `opt-level = 2` in dev).
//! Native only: it reads the files at run time.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../fuzz/bodies/mod.rs"]
mod bodies;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// libFuzzer's `-timeout` in `fuzz/run.sh`.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A fuzz target's body: returns for any input, panics on a finding.
type Body = fn(&[u8]);

/// Every fuzz target and its body.
const TARGETS: [(&str, Body); 7] = [
    ("chat_template", bodies::chat_template::run),
    ("config", bodies::config::run),
    ("dataset", bodies::dataset::run),
    ("gguf", bodies::gguf::run),
    ("safetensors", bodies::safetensors::run),
    ("shard_index", bodies::shard_index::run),
    ("tokenizer", bodies::tokenizer::run),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The plain files of `dir` whose name passes `keep`, sorted; none if `dir` does not exist.
fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    out.sort();
    out
}

/// The names of the entries of `dir` (file stems when `stem`).
fn names(dir: &Path, stem: bool) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("a readable directory entry").path();
            let n = if stem { p.file_stem() } else { p.file_name() };
            n.and_then(|n| n.to_str()).unwrap_or_default().to_string()
        })
        .collect();
    out.sort();
    out
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Runs `body` on `data` in its own thread (named `name`): `None` when it returned within [`TIMEOUT`], else what
/// went wrong. A body still running at the deadline is left behind (a thread cannot be stopped;
/// it ends with the process).
fn run_bounded(name: String, body: Body, data: Vec<u8>) -> Option<String> {
    let (done, finished) = mpsc::channel();
    let worker = std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            body(&data);
            let _ = done.send(());
        })
        .expect("a thread for the input");
    match finished.recv_timeout(TIMEOUT) {
        // Disconnected: the sender was dropped while the body unwound.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(()) => None,
            Err(payload) => Some(format!("panicked: {}", panic_message(&*payload))),
        },
        Err(RecvTimeoutError::Timeout) => Some(format!("did not finish within {TIMEOUT:?}")),
    }
}

/// Runs every input of `target` through its body; fails listing each input that panicked or
/// did not finish within [`TIMEOUT`]. After a timeout the remaining inputs are not run (the
/// runaway body still holds a core and maybe gigabytes).
fn replay(target: &str) {
    let (_, body) = TARGETS
        .iter()
        .find(|(t, _)| *t == target)
        .expect("a known target");
    let all = std::env::var("SVDTUNE_FUZZ_CORPUS").is_ok_and(|v| v == "all");
    let mut inputs = files(&fuzz_dir().join("corpus").join(target), |n| {
        all || n.starts_with("seed-")
    });
    let seeds = inputs.len();
    inputs.extend(files(&fuzz_dir().join("regressions").join(target), |_| {
        true
    }));
    assert!(seeds > 0, "fuzz/corpus/{target}/ has no seed-* input");
    let started = Instant::now();
    let mut failures = Vec::new();
    for path in &inputs {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.strip_prefix(fuzz_dir()).unwrap_or(path).display();
        match run_bounded(name.to_string(), *body, data) {
            None => {}
            Some(what) if what.starts_with("did not finish") => {
                failures.push(format!("{name}: {what}; the inputs after it were not run"));
                break;
            }
            Some(what) => failures.push(format!("{name}: {what}")),
        }
    }
    eprintln!(
        "{target}: {} inputs ({seeds} from the corpus) in {:.2?}",
        inputs.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{target}:\n{}", failures.join("\n"));
}

#[test]
fn chat_template() {
    replay("chat_template");
}

#[test]
fn config() {
    replay("config");
}

#[test]
fn dataset() {
    replay("dataset");
}

#[test]
fn gguf() {
    replay("gguf");
}

#[test]
fn safetensors() {
    replay("safetensors");
}

#[test]
fn shard_index() {
    replay("shard_index");
}

#[test]
fn tokenizer() {
    replay("tokenizer");
}

/// Every target in `fuzz/fuzz_targets/`, every body and every corpus or regressions folder is one
/// of [`TARGETS`], so a new target (or a misnamed folder) cannot go unreplayed.
#[test]
fn every_target_is_replayed() {
    let known: Vec<String> = TARGETS.iter().map(|(t, _)| t.to_string()).collect();
    let mut bodies = names(&fuzz_dir().join("bodies"), true);
    bodies.retain(|b| b != "mod");
    assert_eq!(names(&fuzz_dir().join("fuzz_targets"), true), known);
    assert_eq!(bodies, known);
    assert_eq!(names(&fuzz_dir().join("corpus"), false), known);
    for dir in names(&fuzz_dir().join("regressions"), false) {
        assert!(
            known.contains(&dir),
            "fuzz/regressions/{dir}: no such target"
        );
    }
}
