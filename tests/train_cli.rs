//! The native CLI end to end on the tiny chat model (`tests/fixtures/tiny-chat`): `svdtune train`
//! lowers the eval loss, logs every step and an evaluation before the first and after the last
//! step, and writes the merged model, the adapter and a checkpoint; `svdtune eval` on the export
//! runs; `--resume` from the final checkpoint restores the trained weights exactly (the merged
//! export is byte-identical); `svdtune generate` answers from the export.
#![cfg(not(target_arch = "wasm32"))]
use std::path::Path;
use std::process::Command;

const MODEL: &str = "tests/fixtures/tiny-chat";
const DATA: &str = "tests/fixtures/tiny-chat/data.jsonl";

fn svdtune(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("svdtune runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn train_args<'a>(out: &'a str, log: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--model",
        MODEL,
        "--data",
        DATA,
        "--out",
        out,
        "--seq-len",
        "64",
        "--batch-size",
        "4",
        "--epochs",
        "4",
        "--lr",
        "3e-2",
        "--eval-split",
        "0.2",
        "--eval-every",
        "5",
        "--rank-fraction",
        "0.5",
        "--backend",
        "cpu",
        "--log",
        log,
        "--checkpoint-every",
        "5",
    ]
}

#[test]
fn train_eval_resume_generate() {
    let dir = std::env::temp_dir().join(format!("svdtune-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("tuned");
    let (out_s, log_s) = (out.to_str().unwrap(), dir.join("log.jsonl"));
    let log_s = log_s.to_str().unwrap();

    let (ok, stdout, stderr) = svdtune(&train_args(out_s, log_s));
    assert!(ok, "train failed: {stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("eval loss:"))
        .unwrap();
    let nums: Vec<f32> = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .collect();
    assert!(nums[1] < nums[0] - 1.0, "eval loss should fall: {line}");
    for f in [
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "checkpoint.safetensors",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let log = std::fs::read_to_string(log_s).unwrap();
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let evals: Vec<&serde_json::Value> = entries
        .iter()
        .filter(|e| e.get("eval_loss").is_some())
        .collect();
    let steps = entries.iter().filter(|e| e.get("loss").is_some()).count();
    assert_eq!(steps, 20, "4 epochs of 5 batches");
    assert_eq!(evals.first().unwrap()["step"], 0);
    assert_eq!(evals.last().unwrap()["step"], 20);
    for e in entries.iter().filter(|e| e.get("loss").is_some()) {
        for key in ["step", "loss", "lr", "tokens_per_s", "grad_norm"] {
            assert!(e.get(key).is_some(), "log entry lacks {key}: {e}");
        }
    }

    let (ok, stdout, stderr) = svdtune(&[
        "eval",
        "--model",
        out_s,
        "--data",
        DATA,
        "--seq-len",
        "64",
        "--backend",
        "cpu",
    ]);
    assert!(ok && stdout.contains("mean loss"), "{stdout}\n{stderr}");

    let first = std::fs::read(out.join("model.safetensors")).unwrap();
    let (ok, stdout, stderr) = svdtune(&[train_args(out_s, log_s), vec!["--resume"]].concat());
    assert!(ok, "resume failed: {stdout}\n{stderr}");
    assert!(stderr.contains("resumed at step 20 of 20"), "{stderr}");
    let again = std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(
        first == again,
        "the resumed run must export the same weights"
    );

    let (ok, stdout, stderr) = svdtune(&[
        "generate",
        "--model",
        out_s,
        "--prompt",
        "What is your name?",
        "--max-new-tokens",
        "12",
        "--backend",
        "cpu",
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stderr.contains("new tokens"), "{stderr}");
    let _ = Path::new(MODEL);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_options_are_named() {
    let (ok, _, stderr) = svdtune(&[
        "train", "--model", MODEL, "--data", DATA, "--out", "/tmp/x", "--lr=-1",
    ]);
    assert!(
        !ok && stderr.contains("lr must be a positive number"),
        "{stderr}"
    );
    let (ok, _, stderr) = svdtune(&[
        "train",
        "--model",
        MODEL,
        "--data",
        DATA,
        "--out",
        "/tmp/x",
        "--schedule",
        "step",
    ]);
    assert!(
        !ok && stderr.contains("unknown schedule \"step\""),
        "{stderr}"
    );
    let (ok, _, stderr) = svdtune(&[
        "train",
        "--model",
        "/nonexistent",
        "--data",
        DATA,
        "--out",
        "/tmp/x",
    ]);
    assert!(!ok && stderr.contains("/nonexistent"), "{stderr}");
}
