//! A Hub model as a local folder: the `snapshots/{commit}` folder of the cache, once it holds
//! every file the command needs. When the cache already has them (the revision's `refs/` entry
//! names a commit whose snapshot is complete), no request is made at all; with `HF_HUB_OFFLINE`
//! only the cache is used. Otherwise the revision's file list is fetched, the needed files that
//! the snapshot lacks are downloaded (config and tokenizer first, then the index and the shards
//! it names, or `model.safetensors`), the optional files the repo lacks are recorded under
//! `.no_exist/`, and the ref is written last.
use super::cache::{RepoCache, safe_file_name};
use super::http::Client;
use super::{HubEnv, HubId, Progress};
use crate::model::load::{INDEX, SINGLE};
use crate::{Error, Result};
use std::path::PathBuf;

/// What a command reads of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// `config.json` only (`inspect`).
    Config,
    /// The config and the tokenizer files (`data`).
    Text,
    /// Everything: config, tokenizer files and the weights.
    All,
}

/// The config file.
pub const CONFIG: &str = "config.json";
/// The tokenizer and chat files, taken when the repo has them (the loaders say which they
/// need): `tokenizer.json` and `tokenizer_config.json` first.
pub const TEXT: [&str; 5] = [
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
];

/// The shard names an index's `weight_map` lists, each once, in first-seen order.
pub fn shards_of(index_json: &str) -> std::result::Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_str(index_json).map_err(|e| e.to_string())?;
    let map = v["weight_map"]
        .as_object()
        .ok_or_else(|| "no weight_map object".to_string())?;
    let mut out: Vec<String> = Vec::new();
    for f in map.values() {
        let f = f
            .as_str()
            .ok_or_else(|| "a weight_map value is not a string".to_string())?;
        if !safe_file_name(f) {
            return Err(format!("unsafe shard name {f:?}"));
        }
        if !out.iter().any(|o| o == f) {
            out.push(f.to_string());
        }
    }
    Ok(out)
}

/// The needed files the snapshot of `commit` lacks (the text files known not to exist upstream
/// are not needed); empty when it is complete.
pub fn missing(repo: &RepoCache, commit: &str, need: Need) -> Vec<String> {
    let mut out = Vec::new();
    if !repo.has(commit, CONFIG) {
        out.push(CONFIG.to_string());
    }
    if need != Need::Config {
        for f in &TEXT[..2] {
            if !repo.has(commit, f) && !repo.known_missing(commit, f) {
                out.push(f.to_string());
            }
        }
    }
    if need == Need::All {
        if repo.has(commit, INDEX) {
            let text =
                std::fs::read_to_string(repo.snapshot(commit).join(INDEX)).unwrap_or_default();
            match shards_of(&text) {
                Ok(shards) => out.extend(shards.into_iter().filter(|s| !repo.has(commit, s))),
                Err(_) => out.push(INDEX.to_string()),
            }
        } else if !repo.has(commit, SINGLE) {
            out.push(SINGLE.to_string());
        }
    }
    out
}

/// The local folder of `id` holding what `need` asks for, from the cache or downloaded into it.
pub fn resolve(
    id: &HubId,
    env: &HubEnv,
    need: Need,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    let repo = RepoCache::new(&env.cache, &id.repo);
    let cached = repo.commit_of(&id.revision);
    if let Some(commit) = &cached
        && missing(&repo, commit, need).is_empty()
    {
        return Ok(repo.snapshot(commit));
    }
    if env.offline {
        let lacks = match &cached {
            Some(c) => format!("lacks {}", missing(&repo, c, need).join(", ")),
            None => format!("has no revision {}", id.revision),
        };
        return Err(Error::input(
            id.display(),
            format!(
                "HF_HUB_OFFLINE is set and the Hugging Face cache {} {lacks}",
                repo.dir.display()
            ),
        ));
    }
    let client = Client::new(env.clone());
    let info = client.repo_info(id).map_err(|e| match (&cached, e) {
        (Some(c), Error::Input { file, message }) if message.starts_with("cannot reach") => {
            Error::Input {
                file,
                message: format!(
                    "{message}; the cache {} lacks {}",
                    repo.dir.display(),
                    missing(&repo, c, need).join(", ")
                ),
            }
        }
        (_, e) => e,
    })?;
    let commit = info.commit.clone();
    let listed = |f: &str| info.files.iter().any(|x| x == f);
    if !listed(CONFIG) {
        return Err(not_a_model(id, &info.files, "config.json"));
    }
    let mut wanted = vec![CONFIG.to_string()];
    if need != Need::Config {
        for f in TEXT {
            if listed(f) {
                wanted.push(f.to_string());
            } else if !repo.known_missing(&commit, f) {
                repo.mark_missing(&commit, f)?;
            }
        }
    }
    let weights = if listed(INDEX) {
        INDEX
    } else if listed(SINGLE) {
        SINGLE
    } else {
        return Err(not_a_model(id, &info.files, "safetensors weights"));
    };
    if need == Need::All {
        wanted.push(weights.to_string());
    }
    let mut get = |file: &str| -> Result<()> {
        if repo.has(&commit, file) {
            return Ok(());
        }
        let meta = client.file_meta(id, &commit, file)?;
        super::download::fetch_blob(&client, &repo, id, file, &meta, progress)?;
        repo.link(&commit, file, &meta.etag)
    };
    for f in &wanted {
        get(f)?;
    }
    if need == Need::All && weights == INDEX {
        let path = repo.snapshot(&commit).join(INDEX);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::input(path.display().to_string(), e.to_string()))?;
        let shards =
            shards_of(&text).map_err(|m| Error::input(format!("{}/{INDEX}", id.display()), m))?;
        for s in &shards {
            if !listed(s) {
                return Err(Error::input(
                    format!("{}/{INDEX}", id.display()),
                    format!("names the shard {s}, which the model does not have"),
                ));
            }
            get(s)?;
        }
    }
    repo.write_ref(&id.revision, &commit)?;
    Ok(repo.snapshot(&commit))
}

/// A repo without `what`: lists its files and suggests a GGUF when it has one.
fn not_a_model(id: &HubId, files: &[String], what: &str) -> Error {
    let shown: Vec<&str> = files.iter().take(20).map(String::as_str).collect();
    let more = files.len().saturating_sub(shown.len());
    let ggufs: Vec<&str> = files
        .iter()
        .filter(|f| f.ends_with(".gguf"))
        .map(String::as_str)
        .collect();
    let hint = if ggufs.is_empty() {
        "svdtune needs a Hugging Face model with config.json and safetensors weights, or a local \
         .gguf file (`svdtune import-gguf`)"
            .to_string()
    } else {
        format!(
            "it has GGUF files ({}): download one and give its path to `svdtune import-gguf`",
            ggufs.join(", ")
        )
    };
    Error::input(
        id.display(),
        format!(
            "the model has no {what}; its files are: {}{}; {hint}",
            if shown.is_empty() {
                "(none)".to_string()
            } else {
                shown.join(", ")
            },
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_of_an_index() {
        let idx = r#"{"metadata":{},"weight_map":{"a":"m-1.safetensors","b":"m-2.safetensors","c":"m-1.safetensors"}}"#;
        assert_eq!(
            shards_of(idx).unwrap(),
            ["m-1.safetensors", "m-2.safetensors"]
        );
        assert!(shards_of(r#"{"weight_map":{"a":"../x"}}"#).is_err());
        assert!(shards_of("{}").is_err());
    }
}
