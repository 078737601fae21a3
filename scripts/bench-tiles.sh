#!/usr/bin/env bash
# make bench-tiles: the tile server against the bare ST_AsMVT query on a
# generated dense district (5,625 buildings per z14 tile), over the distinct
# tiles of realistic viewports at z12-z16 that MapLibre requests (within the
# TileJSON bounds), at 1, 10 and 64 clients: (a) bare SQL through pgx, (r)
# citytwin's render without HTTP, (b) citytwin uncached over HTTP, (c)
# citytwin cached; medians, p99, tiles/s and ratios, the kinds taking turns
# over 3 rounds; then a paired 1-client pass of (a) and (b) tile by tile;
# then (c) again with wrk, an HTTP load tool in its own process, as browsers
# are (a load generator inside the server's process shares its scheduler),
# next to the same gzipped bytes served by a bare net/http handler (the floor
# under Go's HTTP server) and by nginx from files (what a deployment would put
# in front of a tile server as its cache).
# Then the per-tile Go benchmarks. pg_tileserv is not packaged in Debian, so
# the bare query is the reference. The load average is printed before and
# after: on a shared machine, quote figures with it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  SUDO=""; [ "$(id -u)" != 0 ] && SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null
  # the package starts a system nginx on port 80; the bench runs its own
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || $SUDO service nginx stop >/dev/null 2>&1 || true
fi
BENCHTIME=${BENCHTIME:-2s}
echo "load before: $(uptime)"
go test ./tiles -run '^$' -bench 'BenchmarkTilesCompare' -benchtime 1x -timeout 30m
go test ./tiles -run '^$' -bench 'BenchmarkBareSQL|BenchmarkTileUncached|BenchmarkTileCached|BenchmarkMemoryCachePurge' \
  -benchtime "$BENCHTIME" -benchmem -timeout 30m
echo "load after: $(uptime)"
