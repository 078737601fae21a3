#!/usr/bin/env bash
# make build: the web app (when present) into web/dist, then bin/citytwin with
# everything it serves embedded.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f web/package.json ]; then
  (cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; } && npm run --silent build)
fi
mkdir -p bin
go build -o bin/citytwin .
