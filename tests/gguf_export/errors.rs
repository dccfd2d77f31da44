//! Bad input: a family without a llama.cpp mapping, an unknown type, options llama.cpp would
//! compute differently, an unwritable output path (through the command).
use super::fixture_dir;
use svdtune::export::{GgufOutType, MemoryTarget, export_gguf};
use svdtune::model::MemoryFiles;

fn export_err<F: svdtune::model::ModelFiles>(files: &F) -> String {
    let mut out = MemoryTarget::new();
    export_gguf(
        files,
        &mut out,
        "m.gguf",
        "m",
        GgufOutType::F16,
        |_, _, _| {},
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn an_unmapped_family_names_the_supported_ones() {
    let mut f = MemoryFiles::new();
    f.insert("config.json", r#"{"model_type": "gpt2", "vocab_size": 8}"#);
    let e = export_err(&f);
    assert!(
        e.contains("gpt2") && e.contains("llama, mistral, qwen2, qwen3, phi3"),
        "{e}"
    );
}

#[test]
fn an_unknown_type_names_the_supported_ones() {
    let e = GgufOutType::parse("q4_k").unwrap_err().to_string();
    assert!(e.contains("q4_k") && e.contains("f16, bf16, q8_0"), "{e}");
    assert_eq!(GgufOutType::parse("Q8_0").unwrap(), GgufOutType::Q8_0);
}

#[test]
fn options_llama_cpp_computes_differently_are_refused() {
    let e = export_err(&fixture_dir("models/mistral_swa"));
    assert!(e.contains("sliding window of 4 tokens"), "{e}");
}

#[test]
fn the_command_reports_an_unwritable_path_and_a_bad_type() {
    let bin = env!("CARGO_BIN_EXE_svdtune");
    let model = format!("{}/tests/fixtures/models/llama", env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("svdtune-gguf-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blocker = dir.join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let run = |out: &std::path::Path, ty: &str| {
        let o = std::process::Command::new(bin)
            .args(["export-gguf", "--model", &model, "--out"])
            .arg(out)
            .args(["--type", ty])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&blocker.join("m.gguf"), "f16");
    assert!(
        !ok && err.starts_with("error: ") && err.contains("cannot create"),
        "{err}"
    );
    let (ok, err) = run(&dir.join("m.gguf"), "f8");
    assert!(!ok && err.contains("\"f8\" is not supported"), "{err}");
    let (ok, err) = run(&dir.join("m.gguf"), "q8_0");
    assert!(ok, "{err}");
    assert!(std::fs::metadata(dir.join("m.gguf")).unwrap().len() > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}
