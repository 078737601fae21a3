#!/usr/bin/env bash
# make test: install what is missing, build, vet, then every test of the
# project against real services (a private PostGIS cluster, Mosquitto,
# nats-server, Chromium), then a short run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/build.sh

echo "== go vet"
go vet ./...

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

# The shared private test cluster is started by the first test that needs it
# (internal/dbtest) and stopped here, whatever the tests did.
stop_cluster() { go run ./internal/pgcluster/cmd/pgcluster stop .citytwin/test-pg >/dev/null 2>&1 || true; }
trap stop_cluster EXIT

echo "== go test"
go test -count=1 -timeout 30m ${GOTESTFLAGS:-} ./...

echo "== fuzz (${FUZZTIME:-3s} per target)"
bash scripts/fuzz.sh "${FUZZTIME:-3s}"

if [ -f web/package.json ] && [ "${CITYTWIN_NO_BROWSER:-}" != 1 ]; then
  echo "== browser tests"
  (cd web && npm test)
fi
