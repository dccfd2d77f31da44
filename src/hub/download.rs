//! One blob from the Hub into the cache: the bytes go to `blobs/{etag}.incomplete`, appended
//! after what an earlier run left there (a `Range: bytes=N-` request), and become
//! `blobs/{etag}` only when the size matches what the Hub announced and, where the ETag is a
//! sha256 (LFS files), the contents hash to it. The download holds the blob's lock file
//! (`.locks/…/{etag}.lock`, `flock`, as `huggingface_hub` does), so two processes, ours or
//! Python's, never write one blob at once. A network error or a short body keeps the
//! partial file for the next run to resume; a partial file is never used. A checksum mismatch
//! deletes it.
use super::HubId;
use super::Progress;
use super::cache::RepoCache;
use super::http::{Client, FileMeta};
use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

/// Whether an ETag is a sha256 (64 hex digits): the Hub's `X-Linked-Etag` of LFS files.
pub fn is_sha256(etag: &str) -> bool {
    etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Downloads the blob `meta` describes into `repo`'s `blobs/` (nothing when it is there).
pub fn fetch_blob(
    client: &Client,
    repo: &RepoCache,
    id: &HubId,
    file: &str,
    meta: &FileMeta,
    progress: &mut dyn Progress,
) -> Result<()> {
    let blob = repo.blob(&meta.etag);
    if blob.is_file() {
        return Ok(());
    }
    let name = format!("{}/{file}", id.display());
    let _lock = BlobLock::take(&repo.lock_file(&meta.etag), &name, progress)?;
    if blob.is_file() {
        // Another process completed it while this one waited.
        return Ok(());
    }
    let part = repo.incomplete(&meta.etag);
    let io = |what: &str, e: std::io::Error| {
        Error::input(
            name.clone(),
            format!("cannot {what} {}: {e}", part.display()),
        )
    };
    if let Some(parent) = part.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io("create the folder of", e))?;
    }
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&part)
        .map_err(|e| io("open", e))?;
    let mut have = out.metadata().map_err(|e| io("read", e))?.len();
    if have > meta.size {
        // Longer than the blob: not a prefix of it.
        out.set_len(0).map_err(|e| io("truncate", e))?;
        have = 0;
    }
    progress.start(&name, meta.size, have);
    let result = receive(client, id, file, meta, &mut out, &mut have, progress);
    progress.finish();
    result?;
    drop(out);
    if have != meta.size {
        return Err(Error::input(
            name,
            format!(
                "the download ended after {have} of {} bytes; the partial file {} is kept and \
                 the next run resumes it",
                meta.size,
                part.display()
            ),
        ));
    }
    if is_sha256(&meta.etag) {
        let got = sha256_file(&part).map_err(|e| io("read", e))?;
        if !got.eq_ignore_ascii_case(&meta.etag) {
            let _ = std::fs::remove_file(&part);
            return Err(Error::input(
                name,
                format!(
                    "checksum mismatch: the download hashes to sha256 {got}, the Hub says {}; \
                     it was deleted",
                    meta.etag
                ),
            ));
        }
    }
    std::fs::rename(&part, &blob).map_err(|e| io("rename", e))
}

/// An exclusive `flock` on a lock file, released when dropped (the file is closed).
struct BlobLock(#[allow(dead_code)] File);

impl BlobLock {
    fn take(path: &Path, name: &str, progress: &mut dyn Progress) -> Result<BlobLock> {
        let err = |e: std::io::Error| {
            Error::input(
                name.to_string(),
                format!("cannot lock {}: {e}", path.display()),
            )
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            let fd = f.as_raw_fd();
            // Safety: flock on a descriptor this function owns.
            if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                progress.note(&format!(
                    "waiting for another download of {name} ({})",
                    path.display()
                ));
                // Safety: as above; blocks until the other holder closes the file.
                if unsafe { libc::flock(fd, libc::LOCK_EX) } != 0 {
                    return Err(err(std::io::Error::last_os_error()));
                }
            }
        }
        #[cfg(not(unix))]
        let _ = progress;
        Ok(BlobLock(f))
    }
}

/// Appends the rest of the blob to `out` (`have` bytes are there already).
fn receive(
    client: &Client,
    id: &HubId,
    file: &str,
    meta: &FileMeta,
    out: &mut File,
    have: &mut u64,
    progress: &mut dyn Progress,
) -> Result<()> {
    if *have == meta.size {
        return Ok(());
    }
    let name = format!("{}/{file}", id.display());
    let mut resp = client.get(id, file, &meta.location, *have)?;
    match resp.status().as_u16() {
        206 => {}
        416 => {
            // The server cannot serve that range: start over.
            out.set_len(0)
                .map_err(|e| Error::input(name.clone(), e.to_string()))?;
            *have = 0;
            resp = client.get(id, file, &meta.location, 0)?;
        }
        _ if *have > 0 => {
            // A full answer to a range request: start over.
            out.set_len(0)
                .map_err(|e| Error::input(name.clone(), e.to_string()))?;
            *have = 0;
        }
        _ => {}
    }
    let mut reader = resp.into_body().into_reader();
    let mut buf = vec![0u8; 256 << 10];
    while *have < meta.size {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = out.flush();
                return Err(Error::input(
                    name,
                    format!(
                        "network error after {have} of {} bytes ({e}); the partial file is kept \
                         and the next run resumes it",
                        meta.size
                    ),
                ));
            }
        };
        let n = n.min((meta.size - *have) as usize);
        out.write_all(&buf[..n])
            .map_err(|e| Error::input(name.clone(), format!("cannot write the download: {e}")))?;
        *have += n as u64;
        progress.advance(n as u64);
    }
    out.flush()
        .map_err(|e| Error::input(name, format!("cannot write the download: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_file() {
        let p = std::env::temp_dir().join(format!("svdtune-sha-{}", std::process::id()));
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256(&sha256_file(&p).unwrap()));
        assert!(!is_sha256("abc"));
        let _ = std::fs::remove_file(&p);
    }
}
