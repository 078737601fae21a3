#!/usr/bin/env bash
# bench-import: the same generated building file (NDJSON GeoJSON) imported by
# `citytwin import` (checks, repairs, H3 cells, upsert) and by
# `ogr2ogr -f PostgreSQL` (plain COPY) into the same private PostGIS, side by
# side; prints features/s of each and the ratio.
#   N=200000 scripts/bench-import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
work=$(mktemp -d /tmp/citytwin-bench-import.XXXXXX)
chmod 755 "$work"
pgdir="$work/pg"
cleanup() { go run ./internal/pgcluster/cmd/pgcluster stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

command -v ogr2ogr >/dev/null || { echo "bench-import: ogr2ogr is missing (scripts/install-deps.sh installs gdal-bin)" >&2; exit 1; }
[ -x bin/citytwin ] || bash scripts/build.sh
file="$work/buildings.ndjson"
echo "generating $N buildings..."
go run ./importers/internal/genbuildings -n "$N" -o "$file"
url=$(go run ./internal/pgcluster/cmd/pgcluster start "$pgdir")
# Migrate first so that neither run pays for it.
bin/citytwin migrate --database-url "$url" >/dev/null 2>&1

now() { date +%s.%N; }
t0=$(now)
bin/citytwin import "$file" --layer buildings --source bench --database-url "$url" --log-level warn >"$work/citytwin.out"
t1=$(now)
PG_USE_COPY=YES ogr2ogr -f PostgreSQL "PG:$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(f"host={p.hostname} port={p.port} user={p.username} dbname={p.path[1:]}" + (f" password={p.password}" if p.password else ""))' "$url")" \
  "$file" -nln ogr_buildings -lco GEOMETRY_NAME=geom -lco FID=ogc_fid -nlt MULTIPOLYGON -gt 65536 --config PG_USE_COPY YES
t2=$(now)

n_ct=$(psql "$url" -Atc "SELECT count(*) FROM buildings WHERE source = 'bench'")
n_cells=$(psql "$url" -Atc "SELECT count(*) FROM feature_cells WHERE layer = 'buildings'")
n_ogr=$(psql "$url" -Atc "SELECT count(*) FROM ogr_buildings")
python3 - "$N" "$t0" "$t1" "$t2" "$n_ct" "$n_ogr" "$n_cells" <<'PY'
import sys
n, t0, t1, t2, nct, nogr, ncells = int(sys.argv[1]), *map(float, sys.argv[2:5]), *map(int, sys.argv[5:8])
ct, ogr = t1 - t0, t2 - t1
print()
print(f"{'tool':<18}{'features':>10}{'seconds':>10}{'features/s':>12}")
print(f"{'citytwin import':<18}{nct:>10}{ct:>10.2f}{nct/ct:>12.0f}   (+ {ncells} H3 cover cells, h3 column)")
print(f"{'ogr2ogr':<18}{nogr:>10}{ogr:>10.2f}{nogr/ogr:>12.0f}")
print(f"ratio citytwin/ogr2ogr: {(nct/ct)/(nogr/ogr):.2f}x (goal >= 1.5x)")
PY
cat "$work/citytwin.out"
