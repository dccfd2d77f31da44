//! The `huggingface_hub` cache of one model repository, as that library lays it out:
//!
//! ```text
//! {cache}/models--{org}--{name}/
//!   refs/{revision}              the commit a branch or tag pointed to (text, no newline)
//!   blobs/{etag}                 file contents, named by ETag (git sha1, or sha256 for LFS)
//!   blobs/{etag}.incomplete      a download under way (resumed by the next run)
//!   snapshots/{commit}/{file}    relative symlinks to ../../blobs/{etag}
//!   .no_exist/{commit}/{file}    empty: the file is known not to exist at that commit
//! {cache}/.locks/models--{org}--{name}/{etag}.lock   held while the blob downloads
//! ```
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// One repository's folder in the cache.
#[derive(Clone, Debug)]
pub struct RepoCache {
    pub dir: PathBuf,
}

/// A full commit hash (40 hex digits): a revision that needs no `refs/` look-up.
pub fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A file name from the Hub (a sibling, a shard named by an index) that is safe to join under
/// a snapshot folder: relative, `/`-separated, no `.`/`..` parts, no backslashes.
pub fn safe_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && !name.contains('\\')
        && !name.contains('\0')
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::input(path.display().to_string(), format!("cannot {what}: {e}"))
}

impl RepoCache {
    /// The folder of model `repo` (`org/name`) under `cache`.
    pub fn new(cache: &Path, repo: &str) -> RepoCache {
        RepoCache {
            dir: cache.join(format!("models--{}", repo.replace('/', "--"))),
        }
    }

    /// The commit `revision` names: itself when it is a commit hash, else what `refs/` holds.
    pub fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let text = std::fs::read_to_string(self.dir.join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// Records that `revision` points to `commit` (nothing for a commit hash).
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.dir.join("refs").join(revision);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, "create", e))?;
        }
        std::fs::write(&path, commit).map_err(|e| io_err(&path, "write", e))
    }

    /// The snapshot folder of `commit`: what a model folder path is for the rest of svdtune.
    pub fn snapshot(&self, commit: &str) -> PathBuf {
        self.dir.join("snapshots").join(commit)
    }

    /// Whether the snapshot of `commit` has `file` (a link to a blob that exists).
    pub fn has(&self, commit: &str, file: &str) -> bool {
        self.snapshot(commit).join(file).is_file()
    }

    /// Whether `file` is known not to exist at `commit`.
    pub fn known_missing(&self, commit: &str, file: &str) -> bool {
        self.dir.join(".no_exist").join(commit).join(file).is_file()
    }

    /// Records that `file` does not exist at `commit` (as `huggingface_hub` does after a 404).
    pub fn mark_missing(&self, commit: &str, file: &str) -> Result<()> {
        let path = self.dir.join(".no_exist").join(commit).join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_err(parent, "create", e))?;
        }
        std::fs::write(&path, b"").map_err(|e| io_err(&path, "write", e))
    }

    /// Where the blob with this ETag lives once complete.
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(etag)
    }

    /// The lock file `huggingface_hub` holds (`flock`) while it downloads that blob.
    pub fn lock_file(&self, etag: &str) -> PathBuf {
        let repo = self.dir.file_name().unwrap_or_default();
        let root = self.dir.parent().unwrap_or(&self.dir);
        root.join(".locks").join(repo).join(format!("{etag}.lock"))
    }

    /// Where its download under way lives.
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.dir.join("blobs").join(format!("{etag}.incomplete"))
    }

    /// Points `snapshots/{commit}/{file}` at `blobs/{etag}` with a relative symlink (a copy
    /// where the system has no symlinks), replacing what was there.
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<()> {
        let pointer = self.snapshot(commit).join(file);
        let parent = pointer.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|e| io_err(parent, "create", e))?;
        if std::fs::symlink_metadata(&pointer).is_ok() {
            std::fs::remove_file(&pointer).map_err(|e| io_err(&pointer, "replace", e))?;
        }
        // snapshots/{commit}/{a/b/file} → ../../(../..)blobs/{etag}
        let depth = 2 + file.matches('/').count();
        let mut target = PathBuf::new();
        for _ in 0..depth {
            target.push("..");
        }
        target.push("blobs");
        target.push(etag);
        #[cfg(unix)]
        let made = std::os::unix::fs::symlink(&target, &pointer);
        #[cfg(not(unix))]
        let made = std::fs::copy(self.blob(etag), &pointer).map(|_| ());
        made.map_err(|e| io_err(&pointer, "link", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_and_links() {
        let root = std::env::temp_dir().join(format!("svdtune-hubcache-{}", std::process::id()));
        let repo = RepoCache::new(&root, "Org/Model-1");
        assert!(repo.dir.ends_with("models--Org--Model-1"));
        let commit = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(repo.commit_of(commit).as_deref(), Some(commit));
        assert_eq!(repo.commit_of("main"), None);
        repo.write_ref("main", commit).unwrap();
        assert_eq!(repo.commit_of("main").as_deref(), Some(commit));
        std::fs::create_dir_all(repo.dir.join("blobs")).unwrap();
        std::fs::write(repo.blob("e1"), b"x").unwrap();
        repo.link(commit, "sub/f.json", "e1").unwrap();
        assert!(repo.has(commit, "sub/f.json"));
        assert_eq!(
            std::fs::read_link(repo.snapshot(commit).join("sub/f.json")).unwrap(),
            Path::new("../../../blobs/e1")
        );
        assert!(!repo.has(commit, "other.json"));
        repo.mark_missing(commit, "other.json").unwrap();
        assert!(repo.known_missing(commit, "other.json"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn unsafe_names_are_refused() {
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a\\b",
            "a//b",
            "./a",
        ] {
            assert!(!safe_file_name(bad), "{bad}");
        }
        assert!(safe_file_name("model-00001-of-00002.safetensors"));
        assert!(safe_file_name("sub/model.safetensors"));
    }
}
