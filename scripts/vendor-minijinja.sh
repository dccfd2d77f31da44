#!/usr/bin/env bash
# vendor/minijinja is the crates.io release of minijinja (the version and checksum below) plus one
# patch, vendor/minijinja.patch. This script rebuilds the tree from those two and compares:
#
#   scripts/vendor-minijinja.sh [--check]   rebuild the tree in a temp dir from the released crate
#                                           and the patch; fail (and show the difference) unless it
#                                           is byte-identical to vendor/minijinja (default)
#   scripts/vendor-minijinja.sh --write-patch
#                                           regenerate vendor/minijinja.patch from the committed
#                                           tree (after editing vendor/minijinja/src), then --check
#
# The crate comes from cargo's registry cache ($CARGO_HOME/registry/cache/*/minijinja-V.crate);
# the [patch.crates-io] entry keeps a build from ever downloading it, so when it is missing the
# script `cargo fetch`es it through a throwaway crate that depends on minijinja =V (needs the
# network once). The .crate's sha256 must match the crates.io checksum pinned here.
#
# What the patch covers: every file of the tree except PATCHES.md (which explains the patch and is
# kept beside it, not in it). The tree is the crate as cargo unpacks it into its registry source
# dir, so it also holds cargo's unpack marker .cargo-ok ({"v":1}), which the rebuild writes the
# same way; .cargo_vcs_info.json and Cargo.toml.orig come from the .crate unchanged.
# vendor/minijinja/PATCHES.md says how to move to a later minijinja.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VERSION=3.1.0
SHA256=509eeb2603a84eccabb4d75f6ec8ba23b46bbf441aaeb863d6b83a5887fd51e4
TREE="$ROOT/vendor/minijinja"
PATCH="$ROOT/vendor/minijinja.patch"

MODE=${1:---check}
case "$MODE" in
  --check | --write-patch) ;;
  *) echo "usage: $0 [--check | --write-patch]" >&2; exit 2 ;;
esac

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
umask 022

# The same diff whatever the user's git configuration: no colour, no external or text-converting
# diff tools, plain a/ b/ prefixes (the directories are named a and b), one algorithm.
gitdiff() {
  (cd "$WORK" && git -c core.quotePath=false -c diff.noprefix=false -c diff.mnemonicPrefix=false \
    -c diff.renames=false diff --no-index --no-color --no-ext-diff --no-textconv \
    --diff-algorithm=myers --no-prefix "$@")
}

declared=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$TREE/Cargo.toml" | head -1)
if [ "$declared" != "$VERSION" ]; then
  echo "vendor/minijinja/Cargo.toml says version $declared, this script rebuilds $VERSION" >&2
  exit 1
fi

# 1. The released crate, from the registry cache or fetched into it.
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
find_crate() { compgen -G "$CARGO_HOME/registry/cache/*/minijinja-$VERSION.crate" | head -1 || true; }
crate=$(find_crate)
if [ -z "$crate" ]; then
  echo "minijinja-$VERSION.crate is not in $CARGO_HOME/registry/cache; fetching it" >&2
  mkdir "$WORK/fetch" "$WORK/fetch/src"
  printf '[package]\nname = "fetch-minijinja"\nversion = "0.0.0"\nedition = "2021"\n[dependencies]\nminijinja = { version = "=%s", default-features = false }\n[workspace]\n' \
    "$VERSION" >"$WORK/fetch/Cargo.toml"
  : >"$WORK/fetch/src/lib.rs"
  (cd "$WORK/fetch" && cargo fetch --quiet)
  crate=$(find_crate)
  [ -n "$crate" ] || { echo "cargo fetch did not leave minijinja-$VERSION.crate in $CARGO_HOME/registry/cache" >&2; exit 1; }
fi
got=$(sha256sum "$crate" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "$crate: sha256 $got, crates.io publishes $SHA256" >&2
  exit 1
fi

# 2. a = the crate as cargo unpacks it; b = the committed tree without PATCHES.md.
tar -xzf "$crate" -C "$WORK"
mv "$WORK/minijinja-$VERSION" "$WORK/a"
printf '{"v":1}' >"$WORK/a/.cargo-ok"
cp -R "$TREE" "$WORK/b"
rm "$WORK/b/PATCHES.md"

if [ "$MODE" = --write-patch ]; then
  {
    echo "minijinja $VERSION from crates.io (sha256 $SHA256) -> vendor/minijinja."
    echo "Written by scripts/vendor-minijinja.sh --write-patch; vendor/minijinja/PATCHES.md explains"
    echo "each change. Apply with: cd minijinja-$VERSION && git apply -p1 this.patch"
    echo
    gitdiff a b || [ $? -eq 1 ]
  } >"$PATCH.tmp"
  mv "$PATCH.tmp" "$PATCH"
  echo "wrote vendor/minijinja.patch ($(grep -c '^diff --git' "$PATCH") files)"
fi

# 3. r = the crate with the patch applied, which must equal the committed tree.
cp -R "$WORK/a" "$WORK/r"
(cd "$WORK/r" && git apply -p1 --whitespace=nowarn "$PATCH")
if ! gitdiff --exit-code --stat r b >"$WORK/stat"; then
  echo "vendor/minijinja differs from minijinja $VERSION + vendor/minijinja.patch:" >&2
  cat "$WORK/stat" >&2
  gitdiff r b | head -60 >&2 || true
  echo "(after editing vendor/minijinja on purpose: scripts/vendor-minijinja.sh --write-patch)" >&2
  exit 1
fi
echo "vendor/minijinja = minijinja $VERSION + vendor/minijinja.patch ($(grep -c '^diff --git' "$PATCH") files changed)"
