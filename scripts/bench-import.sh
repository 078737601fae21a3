#!/usr/bin/env bash
# bench-import: the same generated building file (NDJSON GeoJSON) imported by
# `citytwin import` (checks, repairs, H3 cells, upsert) and by
# `ogr2ogr -f PostgreSQL` (plain COPY, then its GiST index) into the same
# private PostGIS, side by side; prints features/s of each and the ratio.
#   N=200000 scripts/bench-import.sh
# CITYTWIN_BIN=path measures another build (default: a fresh build of this
# tree). BASE_BIN=path also imports the file with that build (an older
# commit, say) in the same run, on an emptied table of a database of its
# own (migrated by that build), for a before/after ratio. REIMPORT=1 imports
# the file a second time (every record an update).
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
# DROP_OGC_JSON=1 (diagnosis only) drops the OGC item pages' stored
# ogc_json column of buildings (migration 0600) and the triggers that keep it
# (0630), to show what writing it costs the import (the loader renders it in
# Go; the backend stores it).
if [ "${DROP_OGC_JSON:-0}" = 1 ]; then
  psql "$url" -qc "DROP TRIGGER IF EXISTS zz_ogc_json_insert ON buildings" -c "DROP TRIGGER IF EXISTS zz_ogc_json_update ON buildings" \
    -c "ALTER TABLE buildings DROP COLUMN IF EXISTS ogc_json"
  echo "(buildings.ogc_json dropped for this run)"
fi
# Each run starts after a checkpoint, so that none pays for another's WAL.
quiet() { psql "$url" -qAtc "$1" >/dev/null; }
now() { date +%s.%N; }
ctargs=(import "$file" --layer buildings --source bench --database-url "$url" --log-level warn)
# The base build imports into a database of its own, migrated by itself, so
# that it runs on its own schema (an older commit's may differ).
if [ -n "${BASE_BIN:-}" ]; then
  psql "$url" -qAtc "CREATE DATABASE citytwin_base" >/dev/null
  base_url=$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/citytwin_base").geturl())' "$url")
  "$BASE_BIN" migrate --database-url "$base_url" >/dev/null 2>&1
  baseargs=(import "$file" --layer buildings --source bench --database-url "$base_url" --log-level warn)
fi

# The tools take turns, ROUNDS times (default 2), each on an emptied table
# after a checkpoint, and their times are summed: on a shared machine whose
# load comes and goes, that is fairer than one run of each.
ROUNDS=${ROUNDS:-2}
ogrconn="PG:$(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(f"host={p.hostname} port={p.port} user={p.username} dbname={p.path[1:]}" + (f" password={p.password}" if p.password else ""))' "$url")"
t_ogr=0 t_ct=0 t_base=0 t_re=0
c_ogr=0 c_ct=0 c_base=0 c_re=0
add() { python3 -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]) - float(sys.argv[3]))" "$1" "$2" "$3"; }
# CPU seconds of the private cluster so far: the postmaster with the
# children it reaped (the import's backend, once it ended) and those alive.
pmpid=$(head -1 "$pgdir/data/postmaster.pid")
pgcpu() {
  python3 - "$pmpid" <<'PY'
import os, sys
pm = sys.argv[1]
hz = os.sysconf("SC_CLK_TCK")
def fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()
f = fields(pm)
t = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
for pid in os.listdir("/proc"):
    if pid.isdigit() and pid != pm:
        try:
            g = fields(pid)
        except OSError:
            continue
        if g[1] == pm:
            t += int(g[11]) + int(g[12])
print(t / hz)
PY
}
# cpu CMD...: runs CMD; prints the CPU seconds it and the cluster used.
# Its own time (the command's start and end, without the CPU readings, which
# take a third of a second each on a busy machine) goes to $work/span.
cpu() {
  local p0 p1 c s e
  p0=$(pgcpu)
  s=$(now)
  /usr/bin/time -f "%U %S" -o "$work/time" "$@"
  e=$(now)
  echo "$s $e" >"$work/span"
  p1=$(pgcpu)
  c=$(awk '{print $1 + $2}' "$work/time")
  python3 -c "import sys; print(float(sys.argv[1]) + float(sys.argv[2]) - float(sys.argv[3]))" "$c" "$p1" "$p0" >"$work/cpu"
}
empty() { quiet "TRUNCATE buildings, feature_cells"; quiet "VACUUM ANALYZE buildings"; quiet "VACUUM ANALYZE feature_cells"; quiet CHECKPOINT; }
empty_base() {
  psql "$base_url" -qAtc "TRUNCATE buildings, feature_cells" -c "VACUUM ANALYZE buildings" -c "VACUUM ANALYZE feature_cells" >/dev/null
  quiet CHECKPOINT
}
for round in $(seq "$ROUNDS"); do
  quiet "DROP TABLE IF EXISTS ogr_buildings"
  quiet CHECKPOINT
  t0=$(now)
  cpu ogr2ogr -f PostgreSQL "$ogrconn" "$file" -nln ogr_buildings -lco GEOMETRY_NAME=geom -lco FID=ogc_fid -nlt MULTIPOLYGON -gt 65536 --config PG_USE_COPY YES
  read -r t0 t1 <"$work/span"
  t_ogr=$(add "$t_ogr" "$t1" "$t0")
  r_ogr=$(add 0 "$t1" "$t0")
  c_ogr=$(add "$c_ogr" "$(cat "$work/cpu")" 0)
  # Vacuumed now, so that autovacuum of ogr2ogr's new table does not run
  # during the next tool's import (as empty() does for the citytwin tables).
  quiet "VACUUM ANALYZE ogr_buildings"
  if [ -n "${BASE_BIN:-}" ]; then
    empty_base
    t0=$(now)
    cpu "$BASE_BIN" "${baseargs[@]}" >"$work/base.out" 2>&1
    read -r t0 t1 <"$work/span"
    t_base=$(add "$t_base" "$t1" "$t0")
    r_base=$(add 0 "$t1" "$t0")
    c_base=$(add "$c_base" "$(cat "$work/cpu")" 0)
    n_base=$(psql "$base_url" -Atc "SELECT count(*) FROM buildings WHERE source = 'bench'")
  fi
  empty
  t0=$(now)
  cpu "$bin" "${ctargs[@]}" >"$work/citytwin.out" 2>&1
  read -r t0 t1 <"$work/span"
  t_ct=$(add "$t_ct" "$t1" "$t0")
  r_ct=$(add 0 "$t1" "$t0")
  c_ct=$(add "$c_ct" "$(cat "$work/cpu")" 0)
  if [ "${REIMPORT:-0}" = 1 ]; then
    quiet CHECKPOINT
    t0=$(now)
    cpu "$bin" "${ctargs[@]}" >"$work/reimport.out" 2>&1
    read -r t0 t1 <"$work/span"
    t_re=$(add "$t_re" "$t1" "$t0")
    c_re=$(add "$c_re" "$(cat "$work/cpu")" 0)
  fi
  printf 'round %d: ogr2ogr %.2f s%s, citytwin %.2f s (it says: %s)\n' "$round" "$r_ogr" "${r_base:+, base $(printf %.2f "$r_base") s}" "$r_ct" \
    "$(grep -o 'imported in [0-9.]*s' "$work/citytwin.out" || true)"
done

n_ct=$(psql "$url" -Atc "SELECT count(*) FROM buildings WHERE source = 'bench'")
n_cells=$(psql "$url" -Atc "SELECT count(*) FROM feature_cells WHERE layer = 'buildings'")
n_ogr=$(psql "$url" -Atc "SELECT count(*) FROM ogr_buildings")
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$ROUNDS" "$t_ogr" "$t_ct" "$t_base" "$t_re" "$n_ogr" "$n_ct" "${n_base:-0}" "$n_cells" "$c_ogr" "$c_ct" "$c_base" "$c_re" <<'PY'
import sys
rounds = int(sys.argv[1])
ogr, ct, base, re = map(float, sys.argv[2:6])
nogr, nct, nbase, ncells = map(int, sys.argv[6:10])
cogr, cct, cbase, cre = map(float, sys.argv[10:14])
rate_ogr = nogr * rounds / ogr
print()
print(f"{rounds} round(s), each tool in turn; seconds are summed over the rounds.")
print("cpu s: CPU seconds of the tool and of the PostgreSQL cluster (its backend included)")
print(f"{'tool':<22}{'features':>10}{'seconds':>10}{'features/s':>12}{'vs ogr2ogr':>12}{'cpu s':>9}{'us cpu/feature':>16}")
def line(name, n, s, c, extra=""):
    r = n * rounds / s
    print(f"{name:<22}{n:>10}{s:>10.2f}{r:>12.0f}{r/rate_ogr:>11.2f}x{c:>9.2f}{c/(n*rounds)*1e6:>16.1f}{extra}")
line("ogr2ogr", nogr, ogr, cogr)
if base > 0:
    line("citytwin (base)", nbase, base, cbase)
line("citytwin import", nct, ct, cct, f"   (+ {ncells} H3 cover cells, h3 column)")
if re > 0:
    line("citytwin re-import", nct, re, cre, "   (every record an update)")
print(f"CPU per feature, ogr2ogr/citytwin: {(cogr/nogr)/(cct/nct):.2f}x")
print(f"ratio citytwin/ogr2ogr: {(nct*rounds/ct)/rate_ogr:.2f}x (goal >= 1.5x)")
if base > 0:
    print(f"ratio citytwin/base: {(nct*rounds/ct)/(nbase*rounds/base):.2f}x")
PY
cat "$work/citytwin.out"
