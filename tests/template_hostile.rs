//! Hostile chat templates from a model folder, natively: `svdtune data` and `svdtune train` on
//! the tiny chat model with a template that loops (past its fuel), recurses (macros, blocks) or
//! nests values without end must exit with status 1 and an `error:` that names the template's
//! file and the reason, within a time limit: never hang, never die of a signal (an abort or a
//! stack overflow). The page isolates templates in a worker instead (tests/e2e/template_page.mjs).
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-chat");
/// Far above what a fuel-bounded render of the 24 records takes (about 0.2 s per render).
const LIMIT: Duration = Duration::from_secs(120);

/// Hostile templates and what the error must say about them.
const CASES: [(&str, &str, &str); 5] = [
    (
        "loop",
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}",
        "did not finish within",
    ),
    (
        "macro-recursion",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "recursion limit exceeded",
    ),
    (
        "block-recursion",
        "{% block a %}{{ self.a() }}{% endblock %}",
        "recursion limit exceeded",
    ),
    (
        "nesting",
        "{% set ns = namespace(a=[]) %}{% for i in range(1000) %}{% for j in range(500) %}\
         {% set ns.a = [ns.a] %}{% endfor %}{% endfor %}",
        "levels deep",
    ),
    (
        "raise",
        "{{ raise_exception('no ' * 100000) }}",
        "bytes in all",
    ),
];

/// A copy of the tiny chat model whose chat template is `source`, in `tokenizer_config.json`
/// or, when `jinja`, in `chat_template.jinja`.
fn hostile_model(name: &str, source: &str, jinja: bool) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "svdtune-hostile-{}-{name}-{jinja}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir(MODEL).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
    }
    if jinja {
        std::fs::write(dir.join("chat_template.jinja"), source).unwrap();
    } else {
        let path = dir.join("tokenizer_config.json");
        let mut cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        cfg["chat_template"] = source.into();
        std::fs::write(&path, cfg.to_string()).unwrap();
    }
    dir
}

/// Runs the CLI, killing it past [`LIMIT`]: (exit code, stderr, time taken).
fn run(args: &[&str], model: &Path) -> (Option<i32>, String, Duration) {
    let out_dir = model.join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_svdtune"))
        .args(args)
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(Path::new(MODEL).join("data.jsonl"))
        .args(if args[0] == "train" {
            vec!["--out".as_ref(), out_dir.as_os_str()]
        } else {
            vec![]
        })
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} on {} ran past {LIMIT:?}", model.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr, started.elapsed())
}

#[test]
fn hostile_templates_exit_with_a_message_naming_the_file() {
    let commands: [&[&str]; 2] = [
        &["data", "--seq-len", "64"],
        &[
            "train",
            "--seq-len",
            "64",
            "--max-steps",
            "1",
            "--backend",
            "cpu",
        ],
    ];
    for (i, (name, source, reason)) in CASES.iter().enumerate() {
        // Every other case puts the template in chat_template.jinja.
        let jinja = i % 2 == 1;
        let model = hostile_model(name, source, jinja);
        let file = model.join(if jinja {
            "chat_template.jinja"
        } else {
            "tokenizer_config.json"
        });
        for args in commands {
            let (code, stderr, took) = run(args, &model);
            eprintln!("{name} ({}): {took:.1?}", args[0]);
            assert_eq!(
                code,
                Some(1),
                "{name}: `svdtune {}` must exit with status 1 (not a signal): {stderr}",
                args[0]
            );
            assert!(
                stderr.starts_with("error: ") && stderr.contains(reason),
                "{name}: `svdtune {}` should say {reason:?}: {stderr}",
                args[0]
            );
            assert!(
                stderr.contains(&file.display().to_string()),
                "{name}: `svdtune {}` should name {}: {stderr}",
                args[0],
                file.display()
            );
        }
        std::fs::remove_dir_all(&model).unwrap();
    }
}

/// The recursion and nesting limits hold on a stack of [`STACK`] (WebAssembly's 1 MiB; the
/// CLI renders on its main thread, 8 MiB on Linux): a hostile render ends in an error there, not
/// in a stack overflow (which would abort this test process). `SVDTUNE_STACK_KIB` tries another
/// size (measured: the debug build needs between 256 and 384 KiB for these cases).
#[test]
fn hostile_renders_fit_a_small_stack() {
    const STACK: usize = 1 << 20;
    let stack = std::env::var("SVDTUNE_STACK_KIB")
        .ok()
        .and_then(|k| k.parse::<usize>().ok())
        .map_or(STACK, |k| k << 10);
    for (name, source, reason) in CASES {
        let msg = std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                let t = svdtune::data::ChatTemplate::from_source(source, Vec::new()).unwrap();
                let conv = [
                    svdtune::data::Message::user("hi"),
                    svdtune::data::Message::assistant("hello"),
                ];
                t.render(&conv, false).unwrap_err().to_string()
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(msg.contains(reason), "{name}: {msg}");
    }
}

/// A data file whose every record the template fails on is the template's fault (kind
/// `"template"`, which makes the page refuse a new model folder and keep the loaded one); one
/// the template never saw (bad JSON) is the data's (kind `"invalid"`).
#[test]
fn a_file_the_template_cannot_read_is_a_template_error() {
    use svdtune::data::{Dataset, DatasetOptions, ModelText};
    let model = hostile_model("kind", CASES[1].1, false);
    let text = ModelText::from_dir(&model).unwrap();
    let data = std::fs::read(Path::new(MODEL).join("data.jsonl")).unwrap();
    let e = Dataset::from_bytes(&data, &text, &DatasetOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "template", "{e}");
    let file = model.join("tokenizer_config.json");
    assert!(e.to_string().contains(&file.display().to_string()), "{e}");
    let e = Dataset::from_bytes(b"not json\n", &text, &DatasetOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "invalid", "{e}");
    std::fs::remove_dir_all(&model).unwrap();
}
