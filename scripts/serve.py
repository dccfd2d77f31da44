#!/usr/bin/env python3
"""Serves a folder (the page: web/) on 127.0.0.1 for scripts/run.sh and the page tests.

Every response carries `Cross-Origin-Opener-Policy: same-origin` and
`Cross-Origin-Embedder-Policy: require-corp` (cross-origin isolation: what wasm threads need) and
`Cache-Control: no-cache` (a rebuilt web/pkg is never mixed with a stale one); `--no-isolation`
leaves the two cross-origin headers out (the page then runs its single-threaded engine: the
fallback test, or a look at what a plain static host gives). The port: `--port N`
(default 8080) or, when N is taken, the next free one up to N+50; with `--exact`, a taken port is
an error that names it. `--port 0` lets the system choose. The URL is printed (and flushed) only
once the server listens, as `svdtune is served at http://localhost:PORT/PATH`.

The page's Content-Security-Policy is the one in the meta tag of DIRECTORY/index.html; it is also
sent as a header with every HTML page (the same policy: a browser enforces both). `--hub ORIGIN`
(for tests against a local stand-in for the Hugging Face Hub, opened with `?hub=ORIGIN`; give it
again for the stand-in's file CDN that `resolve` redirects to) adds these origins, and only them,
to the policy's `connect-src`, in the header and in the meta tag served.

Usage: scripts/serve.py [--port N] [--exact] [--path /?demo] [--quiet] [--no-isolation] [--hub ORIGIN]... [DIRECTORY]
"""
import argparse
import errno
import functools
import http.server
import io
import os
import re
import sys
import urllib.parse

ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}
HEADERS = {"Cache-Control": "no-cache"}


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".jsonl": "application/jsonl",
    }
    quiet = False
    hub = None
    isolated = True

    def end_headers(self):
        for name, value in {**(ISOLATION if self.isolated else {}), **HEADERS}.items():
            self.send_header(name, value)
        super().end_headers()

    def send_head(self):
        """An HTML page with its Content-Security-Policy as a header too (and --hub's origin)."""
        path = self.translate_path(self.path)
        if os.path.isdir(path):
            path = os.path.join(path, "index.html")
        if not path.endswith(".html") or not os.path.isfile(path):
            return super().send_head()
        with open(path, encoding="utf-8") as f:
            html = f.read()
        html, policy = with_hub(html, self.hub)
        body = html.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if policy:
            self.send_header("Content-Security-Policy", policy)
        self.end_headers()
        return io.BytesIO(body)

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


META = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(")')


def with_hub(html, hub):
    """`html` with the origins `hub` (a string, or None) added to its CSP's connect-src, and that
    policy (None without a meta tag)."""
    m = META.search(html)
    if not m:
        return html, None
    policy = m.group(2)
    if hub:
        policy = re.sub(r"connect-src ([^;]*)", lambda c: f"connect-src {c.group(1)} {hub}", policy)
        html = html[:m.start(2)] + policy + html[m.end(2):]
    return html, policy


def origin(text):
    """`text` as an http(s) origin (scheme://host[:port]), or exits naming it."""
    u = urllib.parse.urlsplit(text)
    if u.scheme not in ("http", "https") or not u.netloc or u.path not in ("", "/") or u.query or ";" in text or " " in text:
        sys.exit(f"serve: --hub {text!r} is not an origin like http://127.0.0.1:9000")
    return f"{u.scheme}://{u.netloc}"


def listen(directory, port, exact, quiet, isolated=True):
    """A server on the first free port from `port` (only `port` when `exact`)."""
    handler = functools.partial(Handler, directory=directory)
    Handler.quiet = quiet
    Handler.isolated = isolated
    last = port if exact or port == 0 else port + 50
    for p in range(port, last + 1):
        try:
            return http.server.ThreadingHTTPServer(("127.0.0.1", p), handler)
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
            if exact:
                sys.exit(f"serve: port {p} is taken (by another server?); give another with PORT=, "
                         "or leave PORT unset to take the next free port")
            print(f"serve: port {p} is taken, trying {p + 1}", file=sys.stderr)
    sys.exit(f"serve: ports {port} to {last} are all taken; give a free one with PORT=")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", nargs="?", default="web")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--exact", action="store_true", help="fail when the port is taken")
    ap.add_argument("--path", default="/", help="appended to the printed URL")
    ap.add_argument("--quiet", action="store_true", help="no line per request")
    ap.add_argument("--hub", action="append", default=[],
                    help="an origin the page may also connect to (a local Hub for tests); repeatable")
    ap.add_argument("--no-isolation", action="store_true",
                    help="no COOP/COEP headers (the page runs on one thread)")
    a = ap.parse_args()
    if not 0 <= a.port <= 65535:
        sys.exit(f"serve: {a.port} is not a port number (0 to 65535)")
    Handler.hub = " ".join(origin(h) for h in a.hub) or None
    server = listen(a.directory, a.port, a.exact, a.quiet, not a.no_isolation)
    port = server.server_address[1]
    print(f"svdtune is served at http://localhost:{port}{a.path}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
