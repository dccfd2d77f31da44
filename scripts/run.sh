#!/usr/bin/env bash
# The main job: set up, build the wasm engine and serve the page at http://localhost:${PORT:-8080}/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh
scripts/build-web.sh
PORT=${PORT:-8080}
echo "svdtune is served at http://localhost:$PORT/  (Ctrl-C stops it)"
exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory web
