//! `svdtune data` end to end (native only): the report names the format, the statistics and every
//! skipped record with its line; `--dump` writes exactly the library's ids and masks.
#![cfg(not(target_arch = "wasm32"))]

use std::process::Command;

use svdtune::data::{Dataset, DatasetOptions, ModelText};

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/data/smollm2");
const BAD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/data/formats/bad.jsonl"
);

#[test]
fn report_and_dump() {
    let dump = std::env::temp_dir().join(format!("svdtune-dump-{}.jsonl", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args([
            "data",
            "--model",
            MODEL,
            "--data",
            BAD,
            "--seq-len",
            "32",
            "--pack",
        ])
        .arg("--dump")
        .arg(&dump)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "format: OpenAI/TRL messages (JSON Lines, detected at line 1)",
        "records: 11 read, 2 usable, 9 skipped",
        "longest record 36 tokens (line 12), 2 cut to 32",
        "packed, attention kept inside each conversation",
        "skipped records (9 in all):",
        "  line 4: unknown role 'tool' in messages message 1",
        "  line 7: invalid UTF-8 at byte 47 of the record",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let model = ModelText::from_dir(std::path::Path::new(MODEL)).unwrap();
    let opts = DatasetOptions {
        max_tokens: Some(32),
        ..Default::default()
    };
    let ds = Dataset::from_path(std::path::Path::new(BAD), &model, &opts).unwrap();
    let text = std::fs::read_to_string(&dump).unwrap();
    std::fs::remove_file(&dump).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), ds.examples.len());
    for (l, ex) in lines.iter().zip(&ds.examples) {
        assert_eq!(l["line"], ex.line);
        assert_eq!(l["input_ids"], serde_json::json!(ex.input_ids));
        assert_eq!(l["loss_mask"], serde_json::json!(ex.loss_mask));
    }
}

#[test]
fn missing_files_fail_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args([
            "data",
            "--model",
            MODEL,
            "--data",
            "/nonexistent/data.jsonl",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("error: dataset: cannot open /nonexistent/data.jsonl"),
        "{stderr}"
    );
}

/// A data file that is not text fails with one message naming the file once.
#[test]
fn a_binary_data_file_is_named_once() {
    let dir = std::env::temp_dir().join(format!("svdtune-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("image.jsonl");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\n\n\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(["data", "--model", MODEL, "--data", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let want = format!(
        "error: {}: not a text file (byte 8 is a NUL byte)",
        path.display()
    );
    assert!(stderr.starts_with(&want), "{stderr}");
    assert!(!stderr.contains("dataset:"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
