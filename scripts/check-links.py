#!/usr/bin/env python3
"""Checks the links of every Markdown file in the repository (python3 standard library only).

For each *.md file git knows of (tracked, or new and not ignored), outside vendor/ and
node_modules/:
  - every relative link `[text](path)`, `[text](path#anchor)`, `[text](#anchor)` and reference
    definition `[name]: path` must name a file or folder that exists, and its anchor a heading of
    the target Markdown file (GitHub's slugs: lower case, punctuation dropped, spaces to hyphens,
    `-1`, `-2`, ... for repeated headings) or an `<a id="...">`/`<a name="...">` in it;
  - every path-like word inside backticks (inline code and fenced blocks) that starts with a
    top-level folder of the repository (`src/`, `scripts/`, `tests/`, `web/`, `bench/`, ...) must
    exist. Globs (`tests/gpu_*.rs`, `{a,b}`) must match at least one path; words with a
    placeholder (`…`, `...`, `<target>`, an upper-case NAME) are skipped, and so are paths that git
    ignores (build outputs such as `web/pkg/` or `fuzz/logs/`, which exist only after a run).

Prints one line per broken link, `file:line: ...`, and exits 1 if there is any; 0 otherwise.
Usage: scripts/check-links.py [ROOT]   (ROOT defaults to the repository holding this script)
"""

import fnmatch
import os
import re
import subprocess
import sys
import unicodedata
from urllib.parse import unquote

EXCLUDED_DIRS = ("vendor/", "node_modules/")
# Top-level folders whose names mark a backticked word as a repository path.
PATH_PREFIXES = ("src", "scripts", "tests", "web", "bench", "shaders", "docs", "demo", "fuzz",
                 "vendor", ".ci")

FENCE = re.compile(r"^\s{0,3}(```+|~~~+)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*\b(?:id|name)\s*=\s*\"([^\"]+)\"", re.IGNORECASE)
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
# [text](target) or ![alt](target), target up to the first space or closing parenthesis.
INLINE_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
PLACEHOLDER = re.compile(r"…|\.\.\.|<[^>]*>|\b[A-Z][A-Z0-9_]{2,}\b")
TRAILING = ".,;:)!?'\""


def git_paths(root, *args):
    out = subprocess.run(["git", "-C", root, *args], check=True, capture_output=True, text=True)
    return [line for line in out.stdout.splitlines() if line]


def repo_tree(root):
    """Files git knows of (tracked, or untracked and not ignored) and every folder holding one."""
    files = set(git_paths(root, "ls-files", "--cached", "--others", "--exclude-standard"))
    files = {f for f in files if os.path.lexists(os.path.join(root, f))}
    dirs = set()
    for f in files:
        parts = f.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return files, dirs


def ignored(root, path):
    """True when git ignores `path` (a build output location)."""
    r = subprocess.run(["git", "-C", root, "check-ignore", "-q", "--no-index", path],
                       capture_output=True)
    return r.returncode == 0


def slug(text):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    kept = []
    for ch in text:
        if ch in (" ", "-", "_") or ch.isalnum() or unicodedata.category(ch).startswith("M"):
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def scan(text):
    """Yields (line_number, kind, value, in_fence) for a Markdown file's lines:
    kind is 'heading' (its text), 'anchor' (an HTML id), 'link' (a link target) or 'code' (the
    content of a code span or a fenced code line)."""
    fence = None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
                continue
            if mark[0] == fence[0] and len(mark) >= len(fence):
                fence = None
                continue
        if fence is not None:
            yield n, "code", line, True
            continue
        for a in HTML_ANCHOR.findall(line):
            yield n, "anchor", a, False
        h = HEADING.match(line)
        if h:
            yield n, "heading", h.group(2), False
        for c in INLINE_CODE.finditer(line):
            yield n, "code", c.group(2), False
        prose = INLINE_CODE.sub("", line)
        for target in INLINE_LINK.findall(prose):
            yield n, "link", target, False
        r = REFERENCE_DEF.match(prose)
        if r:
            yield n, "link", r.group(1), False


def anchors_of(path, cache):
    if path not in cache:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        seen = {}
        anchors = set()
        for _, kind, value, _ in scan(text):
            if kind == "anchor":
                anchors.add(value)
            elif kind == "heading":
                s = slug(value)
                count = seen.get(s, 0)
                seen[s] = count + 1
                anchors.add(s if count == 0 else f"{s}-{count}")
        cache[path] = anchors
    return cache[path]


def expand_braces(word):
    m = re.search(r"\{([^{}]*,[^{}]*)\}", word)
    if not m:
        return [word]
    out = []
    for alt in m.group(1).split(","):
        out.extend(expand_braces(word[:m.start()] + alt + word[m.end():]))
    return out


def path_words(code):
    """Words of a code span or line that look like repository paths."""
    for word in code.split():
        word = word.strip(TRAILING + "(`")
        word = re.sub(r":\d+(-\d+)?$", "", word)  # file:line
        word = word.split("=", 1)[1] if "=" in word and word.startswith("-") else word
        if word.startswith("./"):
            word = word[2:]
        top = word.split("/", 1)[0]
        if "/" in word and top in PATH_PREFIXES and "://" not in word:
            yield word


def check_path_word(root, word, files, dirs):
    """None if `word` names something in the tree (or is skipped), else the reason."""
    if PLACEHOLDER.search(word):
        return None
    for candidate in expand_braces(word):
        c = candidate.rstrip("/")
        if any(ch in c for ch in "*?["):
            if not any(fnmatch.fnmatchcase(p, c) for p in files | dirs):
                return f"`{word}` matches nothing in the tree"
            continue
        if c in files or c in dirs:
            continue
        if ignored(root, c) or ignored(root, c + "/"):
            continue
        return f"`{word}` does not exist"
    return None


def check_link(root, md, target, files, dirs, cache):
    """None if the link resolves, else the reason."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # http:, https:, mailto:, ...
        return None
    path, _, anchor = target.partition("#")
    path = unquote(re.sub(r"\?.*$", "", path))
    anchor = unquote(anchor)
    if path.startswith("/"):
        rel = os.path.normpath(path.lstrip("/"))
    elif path:
        rel = os.path.normpath(os.path.join(os.path.dirname(md), path))
    else:
        rel = md
    rel = rel.replace(os.sep, "/")
    if rel.startswith("../"):
        return f"link `{target}` leaves the repository"
    if rel not in files and rel not in dirs and rel != ".":
        return f"link `{target}`: {rel} does not exist"
    if anchor:
        if not rel.endswith(".md") or rel in dirs:
            return f"link `{target}`: an anchor into a file that is not Markdown"
        if anchor not in anchors_of(os.path.join(root, rel), cache):
            return f"link `{target}`: no heading `#{anchor}` in {rel}"
    return None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    root = os.path.abspath(root)
    files, dirs = repo_tree(root)
    docs = sorted(f for f in files if f.endswith(".md")
                  and not any(f.startswith(d) or f"/{d}" in f for d in EXCLUDED_DIRS))
    cache = {}
    problems = []
    for md in docs:
        with open(os.path.join(root, md), encoding="utf-8") as f:
            text = f.read()
        for n, kind, value, _ in scan(text):
            if kind == "link":
                reason = check_link(root, md, value, files, dirs, cache)
                if reason:
                    problems.append(f"{md}:{n}: {reason}")
            elif kind == "code":
                for word in path_words(value):
                    reason = check_path_word(root, word, files, dirs)
                    if reason:
                        problems.append(f"{md}:{n}: {reason}")
    for p in problems:
        print(p)
    sys.stdout.flush()
    print(f"check-links: {len(docs)} Markdown files, {len(problems)} broken link(s)",
          file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
