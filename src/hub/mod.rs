//! Models from the Hugging Face Hub, natively (the CLI's `--model ORG/NAME[@REVISION]`): the
//! files a model needs are taken from the `huggingface_hub` cache when it already holds them all,
//! and otherwise downloaded into that same cache, laid out exactly as `huggingface_hub` lays it
//! out, so Python tools find them too.
//!
//! - [`cache`]: the cache layout (`models--{org}--{name}/refs/{revision}`,
//!   `snapshots/{commit}/{file}` → `../../blobs/{etag}`, `.no_exist/{commit}/{file}`).
//! - [`http`]: the Hub's HTTP protocol (`HEAD`/`GET {endpoint}/{repo}/resolve/{revision}/{file}`,
//!   `X-Repo-Commit`, `X-Linked-Etag`, `X-Linked-Size`, redirects to the file CDN, tokens) and
//!   its errors, each naming the model and the file.
//! - [`download`]: one blob: resumable range download into `blobs/{etag}.incomplete`, size and
//!   sha256 checks, then the rename.
//! - [`resolve`]: which files a model needs, and the whole look-up: cache first, then download.
//!
//! Environment, as `huggingface_hub` reads it: `HF_ENDPOINT` (default `https://huggingface.co`),
//! `HF_TOKEN` (else the token file `$HF_TOKEN_PATH`, else `$HF_HOME/token`), `HF_HUB_CACHE` (else
//! `HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`; `HF_HOME` defaults to
//! `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`) and `HF_HUB_OFFLINE`.
pub mod cache;
pub mod download;
pub mod http;
pub mod resolve;

pub use resolve::{Need, resolve};

use std::path::PathBuf;

/// The default Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A model on the Hub: `org/name`, optionally `@revision` (a branch, tag or commit; `main` when
/// not given).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubId {
    pub repo: String,
    pub revision: String,
}

impl HubId {
    /// `org/name[@revision]`, or `None` when `text` is not shaped like a Hub model id (one `/`
    /// between two names of letters, digits, `-`, `_` and `.`, no `--` or `..`, at most 96
    /// characters, as the Hub requires).
    pub fn parse(text: &str) -> Option<HubId> {
        let (repo, revision) = match text.split_once('@') {
            Some((r, rev)) => (r, rev),
            None => (text, "main"),
        };
        let (org, name) = repo.split_once('/')?;
        let part_ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
                && !p.starts_with(['-', '.'])
                && !p.ends_with(['-', '.'])
                && !p.contains("--")
                && !p.contains("..")
        };
        let revision_ok = !revision.is_empty()
            && revision.len() <= 256
            && !revision.contains("..")
            && !revision.starts_with('/')
            && !revision.ends_with('/')
            && revision
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
        (repo.len() <= 96 && part_ok(org) && part_ok(name) && revision_ok).then(|| HubId {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }

    /// `org/name`, with `@revision` unless it is `main`.
    pub fn display(&self) -> String {
        if self.revision == "main" {
            self.repo.clone()
        } else {
            format!("{}@{}", self.repo, self.revision)
        }
    }
}

/// Where the Hub is and how to reach it: what `huggingface_hub` reads from the environment.
#[derive(Clone, Debug)]
pub struct HubEnv {
    /// `HF_ENDPOINT` without a trailing `/`.
    pub endpoint: String,
    /// `HF_TOKEN`, or the token file's first line.
    pub token: Option<String>,
    /// The cache folder (holding `models--…`).
    pub cache: PathBuf,
    /// `HF_HUB_OFFLINE`: only the cache is used.
    pub offline: bool,
}

/// The user's cache folder: `$XDG_CACHE_HOME`, else `~/.cache`; `None` without either.
pub fn user_cache_root() -> Option<PathBuf> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
}

impl HubEnv {
    /// From the process environment.
    pub fn from_env() -> HubEnv {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let home = var("HF_HOME").map(PathBuf::from).unwrap_or_else(|| {
            user_cache_root()
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("huggingface")
        });
        let cache = var("HF_HUB_CACHE")
            .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token_file = var("HF_TOKEN_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("token"));
        let token = var("HF_TOKEN").map(|t| t.trim().to_string()).or_else(|| {
            std::fs::read_to_string(token_file)
                .ok()
                .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
                .filter(|t| !t.is_empty())
        });
        let offline = var("HF_HUB_OFFLINE").is_some_and(|v| {
            matches!(
                v.trim().to_ascii_uppercase().as_str(),
                "1" | "ON" | "YES" | "TRUE"
            )
        });
        HubEnv {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
                .trim_end_matches('/')
                .to_string(),
            token,
            cache,
            offline,
        }
    }
}

/// What a download shows while it runs (the CLI draws a bar, or one line per file).
pub trait Progress {
    /// A file starts: `total` bytes, of which `done` are already on disk (a resumed download).
    fn start(&mut self, file: &str, total: u64, done: u64);
    /// `bytes` more arrived.
    fn advance(&mut self, bytes: u64);
    /// The file is complete (or failed).
    fn finish(&mut self);
    /// Something worth a line on its own (waiting for another process's download).
    fn note(&mut self, text: &str);
}

/// Shows nothing.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: &str, _: u64, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
    fn note(&mut self, _: &str) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_and_what_is_not_one() {
        let id = HubId::parse("Qwen/Qwen3-0.6B").unwrap();
        assert_eq!(
            (id.repo.as_str(), id.revision.as_str()),
            ("Qwen/Qwen3-0.6B", "main")
        );
        let id = HubId::parse("HuggingFaceTB/SmolLM2-135M-Instruct@v1.0").unwrap();
        assert_eq!(id.revision, "v1.0");
        assert_eq!(id.display(), "HuggingFaceTB/SmolLM2-135M-Instruct@v1.0");
        assert_eq!(HubId::parse("a/b@refs/pr/1").unwrap().revision, "refs/pr/1");
        for not in [
            "model",
            "/abs/path",
            "./a/b",
            "a/b/c",
            "../b",
            "a/..",
            "a/b@",
            "a/b@../x",
            "a--x/b",
            "a/b c",
            "a/-b",
            "",
        ] {
            assert_eq!(HubId::parse(not), None, "{not}");
        }
    }
}
