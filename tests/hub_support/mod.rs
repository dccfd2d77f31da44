//! A stand-in for the Hugging Face Hub on 127.0.0.1, for the tests of `--model ORG/NAME`: the
//! Hub's URL layout and headers (`/api/models/{repo}/revision/{rev}`, `HEAD`/`GET
//! /{repo}/resolve/{rev}/{file}` with `ETag`, `X-Repo-Commit`, and for `*.safetensors` a 302 to a
//! second server, the "CDN", with `X-Linked-Etag` (sha256) and `X-Linked-Size`), `X-Error-Code`
//! errors (404 `RepoNotFound` / `RevisionNotFound` / `EntryNotFound`, 401 `GatedRepo`), a renamed
//! repo (`org/old` redirects to `org/tiny`), range requests on the CDN, and switches that cut,
//! shorten or corrupt the CDN's next body. It counts every request both servers get. Nothing
//! here reaches past the loopback address.
#![allow(dead_code)]
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The commit every repo is at.
pub const COMMIT: &str = "c0ffee00000000000000000000000000000000a1";
/// The token the gated repo accepts.
pub const TOKEN: &str = "hf_test_secret";

pub fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The ETag of a small (non-LFS) file: 40 hex digits, like the Hub's git blob ids.
pub fn small_etag(bytes: &[u8]) -> String {
    sha256_hex(bytes)[..40].to_string()
}

pub struct Repo {
    pub files: Vec<(String, Vec<u8>)>,
    pub gated: bool,
}

impl Repo {
    /// Every file of a fixture folder (skipping `skip`).
    pub fn from_dir(dir: &Path, skip: &[&str]) -> Repo {
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            if !skip.contains(&name.as_str()) {
                files.push((name, std::fs::read(e.path()).unwrap()));
            }
        }
        files.sort();
        Repo {
            files,
            gated: false,
        }
    }
}

#[derive(Default)]
pub struct State {
    /// Requests either server got.
    pub requests: AtomicUsize,
    /// The CDN's next body stops half-way (the connection closes).
    pub cut_next: AtomicBool,
    /// The CDN's next body is half the blob, with a matching `Content-Length` (short of
    /// `X-Linked-Size`).
    pub short_next: AtomicBool,
    /// The CDN's next body has one byte changed.
    pub corrupt_next: AtomicBool,
    /// `Range` headers the CDN got.
    pub ranges: Mutex<Vec<String>>,
    /// Whether the CDN ever got an `Authorization` header.
    pub cdn_saw_token: AtomicBool,
    /// Whether the Hub got the right token.
    pub hub_saw_token: AtomicBool,
}

pub struct HubServer {
    /// `http://127.0.0.1:PORT`: what `HF_ENDPOINT` is set to.
    pub endpoint: String,
    pub state: Arc<State>,
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let path = target.split('?').next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Some(Request {
        method,
        path,
        headers,
    })
}

/// Writes a response; `send` bytes of `body` go out (all of it when `None`), after a
/// `Content-Length` of the whole body.
fn respond(
    mut s: &TcpStream,
    head: bool,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
    send: Option<usize>,
) {
    let mut text = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text += &format!("{k}: {v}\r\n");
    }
    text += &format!("Content-Length: {}\r\n\r\n", body.len());
    let _ = s.write_all(text.as_bytes());
    if !head {
        let _ = s.write_all(&body[..send.unwrap_or(body.len()).min(body.len())]);
    }
    let _ = s.flush();
}

fn error(s: &TcpStream, head: bool, status: &str, code: &str) {
    respond(
        s,
        head,
        status,
        &[
            ("X-Error-Code", code.to_string()),
            ("X-Error-Message", code.to_string()),
        ],
        b"{\"error\":\"refused\"}",
        None,
    );
}

fn serve(listener: TcpListener, handle: impl Fn(&TcpStream, Request) + Send + 'static) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
            if let Some(req) = read_request(&stream) {
                handle(&stream, req);
            }
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    });
}

impl HubServer {
    /// Serves `repos` (`org/name` → files) on two loopback ports.
    pub fn start(repos: Vec<(&str, Repo)>) -> HubServer {
        let repos: Arc<HashMap<String, Repo>> =
            Arc::new(repos.into_iter().map(|(k, v)| (k.to_string(), v)).collect());
        let state = Arc::new(State::default());
        let hub = TcpListener::bind("127.0.0.1:0").unwrap();
        let cdn = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://127.0.0.1:{}", hub.local_addr().unwrap().port());
        let cdn_url = format!("http://127.0.0.1:{}", cdn.local_addr().unwrap().port());

        let (st, rp) = (state.clone(), repos.clone());
        serve(hub, move |s, req| {
            st.requests.fetch_add(1, Ordering::SeqCst);
            hub_answer(s, &req, &rp, &st, &cdn_url)
        });
        let (st, rp) = (state.clone(), repos);
        serve(cdn, move |s, req| {
            st.requests.fetch_add(1, Ordering::SeqCst);
            cdn_answer(s, &req, &rp, &st)
        });
        HubServer { endpoint, state }
    }

    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

fn hub_answer(s: &TcpStream, req: &Request, repos: &HashMap<String, Repo>, st: &State, cdn: &str) {
    let head = req.method == "HEAD";
    let path = req.path.trim_start_matches('/');
    let authorized =
        req.headers.get("authorization").map(String::as_str) == Some(&format!("Bearer {TOKEN}"));
    if authorized {
        st.hub_saw_token.store(true, Ordering::SeqCst);
    }
    // A renamed repo: `org/old` answers with a relative redirect to `org/tiny`.
    if path.contains("org/old/") {
        let to = format!("/{}", path.replace("org/old/", "org/tiny/"));
        return respond(
            s,
            head,
            "307 Temporary Redirect",
            &[("Location", to)],
            b"",
            None,
        );
    }
    if let Some(rest) = path.strip_prefix("api/models/") {
        let Some((repo, rev)) = rest.split_once("/revision/") else {
            return error(s, head, "404 Not Found", "RepoNotFound");
        };
        let Some(r) = repos.get(repo) else {
            return error(s, head, "404 Not Found", "RepoNotFound");
        };
        if rev != "main" && rev != COMMIT {
            return error(s, head, "404 Not Found", "RevisionNotFound");
        }
        let siblings: Vec<String> = r
            .files
            .iter()
            .map(|(n, _)| format!("{{\"rfilename\":\"{n}\"}}"))
            .collect();
        let body = format!(
            "{{\"id\":\"{repo}\",\"sha\":\"{COMMIT}\",\"siblings\":[{}]}}",
            siblings.join(",")
        );
        return respond(s, head, "200 OK", &[], body.as_bytes(), None);
    }
    // {org}/{name}/resolve/{rev}/{file}
    let parts: Vec<&str> = path.splitn(5, '/').collect();
    if parts.len() != 5 || parts[2] != "resolve" {
        return error(s, head, "404 Not Found", "RepoNotFound");
    }
    let repo = format!("{}/{}", parts[0], parts[1]);
    let Some(r) = repos.get(&repo) else {
        return error(s, head, "404 Not Found", "RepoNotFound");
    };
    if parts[3] != "main" && parts[3] != COMMIT {
        return error(s, head, "404 Not Found", "RevisionNotFound");
    }
    if r.gated && !authorized {
        return error(s, head, "401 Unauthorized", "GatedRepo");
    }
    let Some((name, bytes)) = r.files.iter().find(|(n, _)| n == parts[4]) else {
        return error(s, head, "404 Not Found", "EntryNotFound");
    };
    let commit = ("X-Repo-Commit", COMMIT.to_string());
    if name.ends_with(".safetensors") {
        let sha = sha256_hex(bytes);
        return respond(
            s,
            head,
            "302 Found",
            &[
                commit,
                ("ETag", format!("\"{}\"", small_etag(name.as_bytes()))),
                ("X-Linked-Etag", format!("\"{sha}\"")),
                ("X-Linked-Size", bytes.len().to_string()),
                ("Location", format!("{cdn}/blobs/{sha}?signature=x")),
            ],
            b"",
            None,
        );
    }
    respond(
        s,
        head,
        "200 OK",
        &[commit, ("ETag", format!("\"{}\"", small_etag(bytes)))],
        bytes,
        None,
    )
}

fn cdn_answer(s: &TcpStream, req: &Request, repos: &HashMap<String, Repo>, st: &State) {
    let head = req.method == "HEAD";
    if req.headers.contains_key("authorization") {
        st.cdn_saw_token.store(true, Ordering::SeqCst);
    }
    let sha = req.path.trim_start_matches("/blobs/");
    let Some(bytes) = repos
        .values()
        .flat_map(|r| r.files.iter())
        .map(|(_, b)| b)
        .find(|b| sha256_hex(b) == sha)
    else {
        return respond(s, head, "404 Not Found", &[], b"", None);
    };
    let mut body = bytes.clone();
    if st.corrupt_next.swap(false, Ordering::SeqCst) {
        let at = body.len() / 3;
        body[at] ^= 0x5a;
    }
    let (status, from) = match req.headers.get("range") {
        Some(r) => {
            st.ranges.lock().unwrap().push(r.clone());
            let from: usize = r
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap_or(0);
            ("206 Partial Content", from.min(body.len()))
        }
        None => ("200 OK", 0),
    };
    let mut rest = &body[from..];
    if st.short_next.swap(false, Ordering::SeqCst) {
        rest = &rest[..rest.len() / 2];
    }
    let send = st
        .cut_next
        .swap(false, Ordering::SeqCst)
        .then_some(rest.len() / 2);
    let range = (
        "Content-Range",
        format!(
            "bytes {from}-{}/{}",
            body.len().saturating_sub(1),
            body.len()
        ),
    );
    respond(s, head, status, &[range], rest, send)
}
