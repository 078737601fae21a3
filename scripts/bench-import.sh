#!/usr/bin/env bash
# bench-import: the same generated building file (NDJSON GeoJSON) imported by
# `citytwin import` (checks, repairs, H3 cells, upsert) and by
# `ogr2ogr -f PostgreSQL` (plain COPY, then its GiST index) into the same
# private PostGIS, side by side; prints features/s of each and the ratio.
#   N=200000 scripts/bench-import.sh
# CITYTWIN_BIN=path measures another build (default: a fresh build of this
# tree). BASE_BIN=path also imports the file with that build (an older
# commit, say) in the same run, on an emptied table, for a before/after
# ratio. REIMPORT=1 imports the file a second time (every record an update).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200000}
work=$(mktemp -d /tmp/citytwin-bench-import.XXXXXX)
chmod 755 "$work"
pgdir="$work/pg"
cleanup() { go run ./internal/pgcluster/cmd/pgcluster stop "$pgdir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

command -v ogr2ogr >/dev/null || { echo "bench-import: ogr2ogr is missing (scripts/install-deps.sh installs gdal-bin)" >&2; exit 1; }
bin=${CITYTWIN_BIN:-}
if [ -z "$bin" ]; then
  bin="$work/citytwin"
  go build -o "$bin" .
fi
file="$work/buildings.ndjson"
echo "generating $N buildings..."
go run ./importers/internal/genbuildings -n "$N" -o "$file"
url=$(go run ./internal/pgcluster/cmd/pgcluster start "$pgdir")
# Migrate first so that neither run pays for it.
"$bin" migrate --database-url "$url" >/dev/null 2>&1
# Each run starts after a checkpoint, so that none pays for another's WAL.
quiet() { psql "$url" -qAtc "$1" >/dev/null; }
now() { date +%s.%N; }
ctimport() { "$1" import "$file" --layer buildings --source bench --database-url "$url" --log-level warn; }

tb0=0 tb1=0 n_base=0
if [ -n "${BASE_BIN:-}" ]; then
  quiet CHECKPOINT
  tb0=$(now)
  ctimport "$BASE_BIN" >"$work/base.out"
  tb1=$(now)
  n_base=$(psql "$url" -Atc "SELECT count(*) FROM buildings WHERE source = 'bench'")
  quiet "TRUNCATE buildings, feature_cells"
  quiet "VACUUM ANALYZE buildings"
  quiet "VACUUM ANALYZE feature_cells"
fi

quiet CHECKPOINT
t1=$(now)
PG_USE_COPY=YES ogr2ogr -f PostgreSQL "PG:$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(f"host={p.hostname} port={p.port} user={p.username} dbname={p.path[1:]}" + (f" password={p.password}" if p.password else ""))' "$url")" \
  "$file" -nln ogr_buildings -lco GEOMETRY_NAME=geom -lco FID=ogc_fid -nlt MULTIPOLYGON -gt 65536 --config PG_USE_COPY YES
t2=$(now)
quiet CHECKPOINT
t3=$(now)
ctimport "$bin" >"$work/citytwin.out"
t4=$(now)
tr0=0 tr1=0
if [ "${REIMPORT:-0}" = 1 ]; then
  quiet CHECKPOINT
  tr0=$(now)
  ctimport "$bin" >"$work/reimport.out"
  tr1=$(now)
fi

n_ct=$(psql "$url" -Atc "SELECT count(*) FROM buildings WHERE source = 'bench'")
n_cells=$(psql "$url" -Atc "SELECT count(*) FROM feature_cells WHERE layer = 'buildings'")
n_ogr=$(psql "$url" -Atc "SELECT count(*) FROM ogr_buildings")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$t1" "$t2" "$t3" "$t4" "$n_ct" "$n_ogr" "$n_cells" "$tb0" "$tb1" "$n_base" "$tr0" "$tr1" <<'PY'
import sys
a = sys.argv[1:]
t1, t2, t3, t4 = map(float, a[0:4])
nct, nogr, ncells = map(int, a[4:7])
tb0, tb1, nbase, tr0, tr1 = float(a[7]), float(a[8]), int(a[9]), float(a[10]), float(a[11])
ogr, ct = t2 - t1, t4 - t3
print()
print(f"{'tool':<22}{'features':>10}{'seconds':>10}{'features/s':>12}{'vs ogr2ogr':>12}")
def line(name, n, s, extra=""):
    print(f"{name:<22}{n:>10}{s:>10.2f}{n/s:>12.0f}{(n/s)/(nogr/ogr):>11.2f}x{extra}")
line("ogr2ogr", nogr, ogr)
if tb1 > 0:
    line("citytwin (base)", nbase, tb1 - tb0)
line("citytwin import", nct, ct, f"   (+ {ncells} H3 cover cells, h3 column)")
if tr1 > 0:
    line("citytwin re-import", nct, tr1 - tr0, "   (every record an update)")
print(f"ratio citytwin/ogr2ogr: {(nct/ct)/(nogr/ogr):.2f}x (goal >= 1.5x)")
if tb1 > 0:
    print(f"ratio citytwin/base: {(nct/ct)/(nbase/(tb1-tb0)):.2f}x")
PY
cat "$work/citytwin.out"
