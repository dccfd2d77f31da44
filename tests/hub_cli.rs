//! `--model ORG/NAME[@REVISION]` end to end against a local stand-in for the Hub
//! (`tests/hub_support`): the download lands in the `huggingface_hub` cache layout, a second run
//! makes no request, the results equal those of the model folder, a cut download is kept and
//! resumed, a bad checksum is refused, each bad case says what is wrong and exits non-zero, a
//! cache written by hand is used offline, and a local path always wins. No test leaves the
//! loopback address.
#![cfg(not(target_arch = "wasm32"))]
mod hub_support;

use hub_support::{COMMIT, HubServer, Repo, TOKEN, sha256_hex, small_etag};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

const TINY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-chat");
const SHARDED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/models/llama_sharded"
);
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/tiny-chat/data.jsonl"
);

/// The tiny chat model as the Hub would hold it (its generator script and data left out).
fn tiny() -> Repo {
    Repo::from_dir(Path::new(TINY), &["data.jsonl", "make_tiny_chat.py"])
}

fn server() -> HubServer {
    let mut gated = tiny();
    gated.gated = true;
    let no_weights = Repo {
        files: vec![
            ("config.json".into(), b"{}".to_vec()),
            ("README.md".into(), b"# q".to_vec()),
            ("tiny-Q8_0.gguf".into(), b"GGUF".to_vec()),
        ],
        gated: false,
    };
    HubServer::start(vec![
        ("org/tiny", tiny()),
        ("org/gated", gated),
        ("org/ggufonly", no_weights),
        (
            "org/sharded",
            Repo::from_dir(Path::new(SHARDED), &["golden.safetensors"]),
        ),
    ])
}

/// A fresh, empty `HF_HOME`.
fn hf_home(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("svdtune-hub-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `svdtune` with only the Hub settings given here (and no proxy).
fn svdtune(home: &Path, endpoint: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_svdtune"));
    for k in [
        "HF_TOKEN",
        "HF_TOKEN_PATH",
        "HF_HUB_CACHE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_HUB_OFFLINE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        c.env_remove(k);
    }
    c.env("HF_HOME", home)
        .env("HF_ENDPOINT", endpoint)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("svdtune runs")
}

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "failed:\n{stderr}");
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn fails(out: &Output) -> String {
    assert!(!out.status.success(), "succeeded: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    // Shown with --nocapture: the messages as a user reads them.
    eprintln!("{stderr}");
    stderr
}

fn eval_args(model: &str) -> Vec<String> {
    [
        "eval",
        "--backend",
        "cpu",
        "--seq-len",
        "32",
        "--model",
        model,
        "--data",
        DATA,
    ]
    .map(String::from)
    .to_vec()
}

fn repo_dir(home: &Path, repo: &str) -> PathBuf {
    home.join("hub")
        .join(format!("models--{}", repo.replace('/', "--")))
}

#[test]
fn downloads_into_the_cache_layout_then_runs_from_it_without_requests() {
    let hub = server();
    let home = hf_home("layout");
    let folder = ok(&run(svdtune(&home, "x").args(["inspect", TINY])));
    let from_hub = ok(&run(
        svdtune(&home, &hub.endpoint).args(["inspect", "--model", "org/tiny"])
    ));
    assert_eq!(from_hub, folder);

    // `data` fetches the tokenizer files, not the weights.
    let data = |m: &str| -> Vec<String> {
        ["data", "--seq-len", "32", "--model", m, "--data", DATA]
            .map(String::from)
            .to_vec()
    };
    let want = ok(&run(svdtune(&home, "x").args(data(TINY))));
    let got = ok(&run(svdtune(&home, &hub.endpoint).args(data("org/tiny"))));
    assert_eq!(got, want);
    let snap = repo_dir(&home, "org/tiny").join("snapshots").join(COMMIT);
    assert!(snap.join("tokenizer.json").is_file());
    assert!(!snap.join("model.safetensors").exists());

    let want = ok(&run(svdtune(&home, "x").args(eval_args(TINY))));
    let got = ok(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    assert_eq!(got, want);

    let dir = repo_dir(&home, "org/tiny");
    assert_eq!(
        std::fs::read_to_string(dir.join("refs/main")).unwrap(),
        COMMIT
    );
    let snap = dir.join("snapshots").join(COMMIT);
    for (name, bytes) in &tiny().files {
        let etag = if name.ends_with(".safetensors") {
            sha256_hex(bytes)
        } else {
            small_etag(bytes)
        };
        let link = std::fs::read_link(snap.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(link, Path::new("../../blobs").join(&etag), "{name}");
        assert_eq!(
            &std::fs::read(dir.join("blobs").join(&etag)).unwrap(),
            bytes
        );
    }
    // chat_template.jinja and special_tokens_map.json are recorded as absent upstream.
    assert!(
        dir.join(".no_exist")
            .join(COMMIT)
            .join("chat_template.jinja")
            .is_file()
    );
    let blobs: Vec<String> = std::fs::read_dir(dir.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        !blobs.iter().any(|b| b.ends_with(".incomplete")),
        "{blobs:?}"
    );
    // The lock file huggingface_hub also takes around a blob's download.
    let weights = tiny()
        .files
        .into_iter()
        .find(|(n, _)| n == "model.safetensors")
        .unwrap()
        .1;
    let lock = format!("hub/.locks/models--org--tiny/{}.lock", sha256_hex(&weights));
    assert!(home.join(lock).is_file());

    let before = hub.requests();
    assert!(before > 0);
    let again = ok(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    assert_eq!(again, want);
    let by_commit = format!("org/tiny@{COMMIT}");
    ok(&run(
        svdtune(&home, &hub.endpoint).args(["inspect", "--model", &by_commit])
    ));
    assert_eq!(hub.requests(), before, "a complete cache makes no request");
    assert!(!hub.state.cdn_saw_token.load(Ordering::SeqCst));
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_cut_or_short_download_is_kept_never_used_and_resumed() {
    let hub = server();
    let home = hf_home("resume");
    hub.state.cut_next.store(true, Ordering::SeqCst);
    let err = fails(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    assert!(err.contains("org/tiny/model.safetensors"), "{err}");
    assert!(err.contains("the next run resumes it"), "{err}");
    let dir = repo_dir(&home, "org/tiny");
    let weights = &tiny()
        .files
        .iter()
        .find(|(n, _)| n == "model.safetensors")
        .unwrap()
        .1
        .clone();
    let sha = sha256_hex(weights);
    let part = dir.join("blobs").join(format!("{sha}.incomplete"));
    let kept = std::fs::metadata(&part).expect("partial file kept").len();
    assert!(kept > 0 && (kept as usize) < weights.len(), "{kept}");
    assert!(!dir.join("blobs").join(&sha).exists());
    assert!(
        !dir.join("snapshots")
            .join(COMMIT)
            .join("model.safetensors")
            .exists()
    );
    assert!(
        !dir.join("refs/main").exists(),
        "the ref is written once complete"
    );

    // A body that ends early but whole (its Content-Length short of X-Linked-Size): kept too.
    hub.state.short_next.store(true, Ordering::SeqCst);
    let err = fails(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    assert!(err.contains("the download ended after"), "{err}");
    let kept2 = std::fs::metadata(&part).expect("partial file kept").len();
    assert!(kept2 > kept && (kept2 as usize) < weights.len(), "{kept2}");
    assert!(!dir.join("blobs").join(&sha).exists());

    let want = ok(&run(svdtune(&home, "x").args(eval_args(TINY))));
    let got = ok(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    assert_eq!(got, want);
    assert_eq!(
        hub.state.ranges.lock().unwrap().as_slice(),
        [format!("bytes={kept}-"), format!("bytes={kept2}-")]
    );
    assert_eq!(
        &std::fs::read(dir.join("blobs").join(&sha)).unwrap(),
        weights
    );
    assert!(!part.exists());
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_bad_checksum_is_refused_and_deleted() {
    let hub = server();
    let home = hf_home("checksum");
    hub.state.corrupt_next.store(true, Ordering::SeqCst);
    let err = fails(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    assert!(err.contains("checksum mismatch"), "{err}");
    let blobs = repo_dir(&home, "org/tiny").join("blobs");
    let names: Vec<String> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        !names.iter().any(|n| n.ends_with(".incomplete")),
        "{names:?}"
    );
    ok(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/tiny"))
    ));
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn bad_ids_revisions_gates_and_repos_without_weights_say_so() {
    let hub = server();
    let home = hf_home("errors");
    let inspect = |model: &str| {
        let mut c = svdtune(&home, &hub.endpoint);
        c.args(["inspect", "--model", model]);
        c
    };
    let err = fails(&run(&mut inspect("org/nothing")));
    assert!(
        err.contains(&format!("no model org/nothing on {}", hub.endpoint)),
        "{err}"
    );
    // A renamed repo: the Hub's relative redirects are followed (the token would go along).
    let renamed = ok(&run(&mut inspect("org/old")));
    assert_eq!(
        renamed,
        ok(&run(svdtune(&home, "x").args(["inspect", TINY])))
    );
    let err = fails(&run(&mut inspect("org/tiny@nope")));
    assert!(err.contains("no revision nope"), "{err}");

    let err = fails(&run(
        svdtune(&home, &hub.endpoint).args(eval_args("org/gated"))
    ));
    assert!(err.contains("org/gated"), "{err}");
    assert!(
        err.contains("HF_TOKEN") && err.contains("huggingface-cli login"),
        "{err}"
    );
    let with_token = run(svdtune(&home, &hub.endpoint)
        .env("HF_TOKEN", TOKEN)
        .args(eval_args("org/gated")));
    ok(&with_token);
    assert!(hub.state.hub_saw_token.load(Ordering::SeqCst));
    assert!(
        !hub.state.cdn_saw_token.load(Ordering::SeqCst),
        "the token never goes to the CDN host"
    );

    // The token file `huggingface-cli login` writes is read when HF_TOKEN is not set.
    let logged_in = hf_home("token-file");
    std::fs::write(logged_in.join("token"), format!("{TOKEN}\n")).unwrap();
    ok(&run(svdtune(&logged_in, &hub.endpoint).args([
        "inspect",
        "--model",
        "org/gated",
    ])));
    let _ = std::fs::remove_dir_all(&logged_in);

    let err = fails(&run(&mut inspect("org/ggufonly")));
    assert!(err.contains("no safetensors"), "{err}");
    assert!(
        err.contains("tiny-Q8_0.gguf") && err.contains("README.md"),
        "{err}"
    );

    let err = fails(&run(
        svdtune(&home, "http://127.0.0.1:9").args(["inspect", "--model", "org/tiny"])
    ));
    assert!(
        err.contains("cannot reach the Hub at http://127.0.0.1:9"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_sharded_model_comes_with_every_shard_its_index_names() {
    let hub = server();
    let home = hf_home("sharded");
    let env = svdtune::hub::HubEnv {
        endpoint: hub.endpoint.clone(),
        token: None,
        cache: home.join("hub"),
        offline: false,
    };
    let id = svdtune::hub::HubId::parse("org/sharded").unwrap();
    let dir = svdtune::hub::resolve(&id, &env, svdtune::hub::Need::All, &mut svdtune::hub::Quiet)
        .unwrap();
    for i in 1..=3 {
        let name = format!("model-0000{i}-of-00003.safetensors");
        assert_eq!(
            std::fs::read(dir.join(&name)).unwrap(),
            std::fs::read(Path::new(SHARDED).join(&name)).unwrap()
        );
    }
    let _ = std::fs::remove_dir_all(&home);
}

/// What `huggingface_hub` leaves after downloading the tiny model: blobs, relative links, a ref.
fn write_cache_by_hand(cache: &Path) {
    let dir = cache.join("models--someone--tiny");
    let commit = "1234567890abcdef1234567890abcdef12345678";
    std::fs::create_dir_all(dir.join("blobs")).unwrap();
    std::fs::create_dir_all(dir.join("refs")).unwrap();
    std::fs::create_dir_all(dir.join("snapshots").join(commit)).unwrap();
    std::fs::write(dir.join("refs/main"), commit).unwrap();
    for (name, bytes) in tiny().files {
        let etag = sha256_hex(&bytes);
        std::fs::write(dir.join("blobs").join(&etag), &bytes).unwrap();
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(&etag),
            dir.join("snapshots").join(commit).join(name),
        )
        .unwrap();
    }
}

#[test]
fn a_cache_written_by_huggingface_hub_is_used_offline() {
    let home = hf_home("offline");
    let cache = home.join("elsewhere");
    write_cache_by_hand(&cache);
    let dead = "http://127.0.0.1:9";
    let want = ok(&run(svdtune(&home, dead).args(eval_args(TINY))));
    let got = ok(&run(svdtune(&home, dead)
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .args(eval_args("someone/tiny"))));
    assert_eq!(got, want);
    // Without the offline switch a complete cache is used all the same: the Hub is not asked.
    ok(&run(svdtune(&home, dead)
        .env("HF_HUB_CACHE", &cache)
        .args(eval_args("someone/tiny"))));

    let err = fails(&run(svdtune(&home, dead)
        .env("HF_HUB_CACHE", &cache)
        .env("HF_HUB_OFFLINE", "1")
        .args(["inspect", "--model", "someone/other"])));
    assert!(
        err.contains("HF_HUB_OFFLINE") && err.contains("someone/other"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&home);
}

#[test]
fn a_local_folder_wins_over_a_hub_id() {
    let home = hf_home("local");
    let local = home.join("org/tiny");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::copy(
        Path::new(TINY).join("config.json"),
        local.join("config.json"),
    )
    .unwrap();
    let want = ok(&run(svdtune(&home, "x").args(["inspect", TINY])));
    let got = ok(&run(svdtune(&home, "http://127.0.0.1:9")
        .current_dir(&home)
        .args(["inspect", "--model", "org/tiny"])));
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&home);
}
