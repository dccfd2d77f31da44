//! The Hub's HTTP protocol, as `huggingface_hub` speaks it, over a blocking `ureq` agent:
//!
//! - `GET {endpoint}/api/models/{repo}/revision/{revision}`: the commit (`sha`) and the files
//!   (`siblings[].rfilename`).
//! - `HEAD {endpoint}/{repo}/resolve/{commit}/{file}` with `Accept-Encoding: identity`: the
//!   blob's ETag (`X-Linked-Etag` for LFS files, the sha256 of the contents, else `ETag`), its
//!   size (`X-Linked-Size`, else `Content-Length`) and the commit (`X-Repo-Commit`). Redirects to
//!   the same host (a renamed repo) are followed; a redirect to another host (the file CDN) ends
//!   the look-up and its `Location` is where the bytes are fetched from.
//! - The token goes as `Authorization: Bearer …` to the endpoint's host only, never to a CDN
//!   host (its URLs are signed), as `huggingface_hub` drops it there.
//! - Errors: `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`)
//!   decides before the status, as the Hub answers 401 for a repo that does not exist.
use super::{HubEnv, HubId};
use crate::{Error, Result};
use std::time::Duration;
use ureq::http::{HeaderMap, Response, Uri};

/// How many redirects one request may follow.
const MAX_REDIRECTS: usize = 8;

/// A blocking client for one Hub endpoint (with its token).
pub struct Client {
    agent: ureq::Agent,
    pub env: HubEnv,
    /// `host[:port]` of the endpoint: the only authority the token is sent to.
    endpoint_authority: String,
}

/// What `HEAD …/resolve/…` says about one file.
#[derive(Clone, Debug)]
pub struct FileMeta {
    /// Normalised ETag (no quotes, no `W/`): the blob's name in the cache.
    pub etag: String,
    pub size: u64,
    pub commit: String,
    /// Where the bytes are fetched from (the CDN after a redirect, else the resolve URL).
    pub location: String,
}

/// The commit and the files of one revision.
#[derive(Clone, Debug)]
pub struct RepoInfo {
    pub commit: String,
    pub files: Vec<String>,
}

fn authority(url: &str) -> String {
    url.parse::<Uri>()
        .ok()
        .and_then(|u| u.authority().map(|a| a.as_str().to_ascii_lowercase()))
        .unwrap_or_default()
}

/// `location` (absolute, or a path on the same host) made absolute against `base`.
fn join_location(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let Ok(uri) = base.parse::<Uri>() else {
        return location.to_string();
    };
    let scheme = uri.scheme_str().unwrap_or("https");
    let auth = uri.authority().map(|a| a.as_str()).unwrap_or("");
    if location.starts_with('/') {
        format!("{scheme}://{auth}{location}")
    } else {
        let path = uri.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{auth}{dir}{location}")
    }
}

/// Percent-encodes one URL path segment (a revision: `/` becomes `%2F`).
fn encode_segment(s: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// `W/"abc"` → `abc`.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .to_string()
}

impl Client {
    pub fn new(env: HubEnv) -> Client {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .user_agent(concat!("svdtune/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        let endpoint_authority = authority(&env.endpoint);
        Client {
            agent,
            env,
            endpoint_authority,
        }
    }

    /// `{endpoint}/{repo}/resolve/{revision}/{file}`.
    pub fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.env.endpoint,
            repo,
            encode_segment(revision, false),
            encode_segment(file, true)
        )
    }

    fn sends_token(&self, url: &str) -> bool {
        authority(url) == self.endpoint_authority
    }

    /// One request (no redirect followed), the token added for the endpoint's host.
    fn send(
        &self,
        method: &str,
        url: &str,
        range_from: u64,
    ) -> std::result::Result<Response<ureq::Body>, ureq::Error> {
        let mut req = match method {
            "HEAD" => self.agent.head(url),
            _ => self.agent.get(url),
        }
        .header("Accept-Encoding", "identity");
        if range_from > 0 {
            req = req.header("Range", format!("bytes={range_from}-"));
        }
        if let Some(token) = &self.env.token
            && self.sends_token(url)
        {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        req.call()
    }

    /// A request that got no answer: names the model (and file) and the URL.
    fn unreachable(&self, name: &str, url: &str, e: ureq::Error) -> Error {
        Error::input(
            name.to_string(),
            format!("cannot reach the Hub at {} ({e}; {url})", self.env.endpoint),
        )
    }

    /// The commit and the files of `id`'s revision.
    pub fn repo_info(&self, id: &HubId) -> Result<RepoInfo> {
        let url = format!(
            "{}/api/models/{}/revision/{}",
            self.env.endpoint,
            id.repo,
            encode_segment(&id.revision, false)
        );
        let name = id.display();
        // Redirects are followed: a renamed repo answers with one.
        let mut resp = self.get_following(&name, &url, 0)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(self.status_error(id, None, status, resp.headers()));
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_string()
            .map_err(|e| self.unreachable(&name, &url, e))?;
        let bad =
            |m: &str| Error::input(url.clone(), format!("unexpected answer from the Hub: {m}"));
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let commit = v["sha"].as_str().ok_or_else(|| bad("no sha"))?.to_string();
        if !super::cache::is_commit(&commit) {
            return Err(bad("sha is not a commit hash"));
        }
        let files = v["siblings"]
            .as_array()
            .ok_or_else(|| bad("no siblings"))?
            .iter()
            .filter_map(|s| s["rfilename"].as_str().map(str::to_string))
            .collect();
        Ok(RepoInfo { commit, files })
    }

    /// What the Hub says about `file` of `id` at `commit` (see the module header).
    pub fn file_meta(&self, id: &HubId, commit: &str, file: &str) -> Result<FileMeta> {
        let mut url = self.resolve_url(&id.repo, commit, file);
        let name = format!("{}/{file}", id.display());
        for _ in 0..MAX_REDIRECTS {
            let resp = self
                .send("HEAD", &url, 0)
                .map_err(|e| self.unreachable(&name, &url, e))?;
            let status = resp.status().as_u16();
            let h = resp.headers();
            let location = header(h, "location").map(|l| join_location(&url, &l));
            if (300..400).contains(&status) {
                let Some(next) = location else {
                    return Err(self.status_error(id, Some(file), status, h));
                };
                if authority(&next) == authority(&url) && header(h, "x-linked-etag").is_none() {
                    url = next;
                    continue;
                }
                return self.meta_from(id, file, h, next);
            }
            if status != 200 {
                return Err(self.status_error(id, Some(file), status, h));
            }
            return self.meta_from(id, file, h, url);
        }
        Err(Error::input(
            format!("{}/{file}", id.display()),
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    fn meta_from(
        &self,
        id: &HubId,
        file: &str,
        h: &HeaderMap,
        location: String,
    ) -> Result<FileMeta> {
        let name = format!("{}/{file}", id.display());
        let missing = |what: &str| {
            Error::input(
                name.clone(),
                format!(
                    "{} answered without {what}: is HF_ENDPOINT a Hugging Face Hub?",
                    self.env.endpoint
                ),
            )
        };
        let commit = header(h, "x-repo-commit").ok_or_else(|| missing("X-Repo-Commit"))?;
        let etag = header(h, "x-linked-etag")
            .or_else(|| header(h, "etag"))
            .map(|e| normalize_etag(&e))
            .filter(|e| super::cache::safe_file_name(e) && !e.contains('/'))
            .ok_or_else(|| missing("an ETag"))?;
        let size = header(h, "x-linked-size")
            .or_else(|| header(h, "content-length"))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| missing("a size (X-Linked-Size or Content-Length)"))?;
        Ok(FileMeta {
            etag,
            size,
            commit,
            location,
        })
    }

    /// `GET location` from byte `from` on, following redirects (the token only to the
    /// endpoint's host). Returns the final response with a 2xx status, or the error for it.
    pub fn get(
        &self,
        id: &HubId,
        file: &str,
        location: &str,
        from: u64,
    ) -> Result<Response<ureq::Body>> {
        let name = format!("{}/{file}", id.display());
        let resp = self.get_following(&name, location, from)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) && status != 416 {
            return Err(self.status_error(id, Some(file), status, resp.headers()));
        }
        Ok(resp)
    }

    /// `GET url` from byte `from` on, following redirects; the last answer, whatever its status.
    fn get_following(&self, name: &str, url: &str, from: u64) -> Result<Response<ureq::Body>> {
        let mut url = url.to_string();
        for _ in 0..MAX_REDIRECTS {
            let resp = self
                .send("GET", &url, from)
                .map_err(|e| self.unreachable(name, &url, e))?;
            let status = resp.status().as_u16();
            if (300..400).contains(&status)
                && let Some(next) = header(resp.headers(), "location")
            {
                url = join_location(&url, &next);
                continue;
            }
            return Ok(resp);
        }
        Err(Error::input(
            name.to_string(),
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }

    /// The message for a refused request: names the model (and the file) and what to do.
    pub fn status_error(
        &self,
        id: &HubId,
        file: Option<&str>,
        status: u16,
        h: &HeaderMap,
    ) -> Error {
        let code = header(h, "x-error-code").unwrap_or_default();
        let endpoint = &self.env.endpoint;
        let name = match file {
            Some(f) => format!("{}/{f}", id.display()),
            None => id.display(),
        };
        let no_token = self.env.token.is_none();
        let message = match (code.as_str(), status) {
            ("RepoNotFound", _) | ("", 404) if file.is_none() || code == "RepoNotFound" => {
                let mut m = format!(
                    "no model {} on {endpoint} (and no local folder or file of that name)",
                    id.repo
                );
                if no_token {
                    m += "; if it is private, set HF_TOKEN or run `huggingface-cli login`";
                }
                m
            }
            ("RevisionNotFound", _) => {
                format!(
                    "no revision {} in model {} on {endpoint}",
                    id.revision, id.repo
                )
            }
            ("EntryNotFound", _) | ("", 404) => {
                format!(
                    "no file {} in model {} on {endpoint}",
                    file.unwrap_or("?"),
                    id.repo
                )
            }
            ("GatedRepo", _) | (_, 401) | (_, 403) if no_token => format!(
                "model {} on {endpoint} is gated or private and needs an access token: \
                 set HF_TOKEN (or run `huggingface-cli login`), after accepting its terms on \
                 {endpoint}/{}",
                id.repo, id.repo
            ),
            ("GatedRepo", _) | (_, 401) | (_, 403) => format!(
                "model {} on {endpoint} refused the token (HTTP {status}): check HF_TOKEN, and \
                 accept the model's terms on {endpoint}/{}",
                id.repo, id.repo
            ),
            _ => format!(
                "HTTP {status} from {endpoint}{}",
                header(h, "x-error-message")
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        };
        Error::input(name, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_etags() {
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(normalize_etag("\"abc\""), "abc");
        assert_eq!(
            join_location("http://a:1/x/resolve/main/f", "/y/z"),
            "http://a:1/y/z"
        );
        assert_eq!(
            join_location("http://a:1/x/f", "https://cdn/q?s=1"),
            "https://cdn/q?s=1"
        );
        assert_eq!(authority("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(encode_segment("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(encode_segment("sub/a b", true), "sub/a%20b");
    }
}
