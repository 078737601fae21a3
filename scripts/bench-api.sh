#!/usr/bin/env bash
# bench-api: the spatial API (OGC API - Features, kNN, H3 aggregates,
# isolation traces) side by side with the bare SQL of the same queries
# through pgx. pg_featureserv, the reference named in the issue, is not
# packaged for Debian, so the bare SQL is the reference here.
#
#   make bench-api                 # BENCHTIME=200x by default
#   BENCHTIME=500x make bench-api
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-200x}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

echo "== bbox pages of ~1,000 buildings as GeoJSON, 125 distinct bboxes, 1 and 10 clients"
go test -run '^$' -bench 'BboxBuildings' -benchtime "$BENCHTIME" ./spatial/ogc/ 2>&1 | tee -a "$out" | grep -E '^(Benchmark|FAIL|--- FAIL)|_test.go:[0-9]+:' || true
echo "== kNN of 10 poles (20,000 poles), H3 aggregate over a district (40,000 buildings)"
go test -run '^$' -bench 'NearestPoles|AggregateDistrict' -benchtime "$BENCHTIME" ./spatial/query/ 2>&1 | tee -a "$out" | grep -E '^(Benchmark|FAIL|--- FAIL)|_test.go:[0-9]+:' || true
echo "== isolation trace on a generated 100,000-pipe network (goal < 50 ms)"
go test -run '^$' -bench 'Isolation100k' -benchtime 20x ./spatial/network/ 2>&1 | tee -a "$out" | grep -E '^(Benchmark|FAIL|--- FAIL)|_test.go:[0-9]+:' || true
echo "== clients dropping connections mid-response (90 dropped 10,000-feature pages, then 20 normal pages)"
if drop=$(go test -count=1 -run 'TestItemsSurviveDroppedClients' ./spatial/ogc/ 2>&1); then
  echo "keeps answering: yes"
else
  echo "keeps answering: NO (go test -run TestItemsSurviveDroppedClients -v ./spatial/ogc/)"
  echo "$drop" | grep -E '_test.go:[0-9]+:|^(FAIL|panic)' | head -5
fi

echo
echo "== side by side (ratio = citytwin / bare SQL of the same query; < 1 for req/s means slower)"
echo "   render SQL: the same page with each feature rendered per request (ST_AsGeoJSON + jsonb"
echo "   properties), as feature servers without stored feature text do"
awk '
/^Benchmark/ {
  name = $1; sub(/-[0-9]+$/, "", name)
  who = ""
  if (name ~ /\/citytwin/) { who = "citytwin"; sub(/\/citytwin/, "", name) }
  else if (name ~ /\/sql-render/) { who = "render"; sub(/\/sql-render/, "", name) }
  else if (name ~ /\/sql/) { who = "sql"; sub(/\/sql/, "", name) }
  else { who = "citytwin" }
  if (!(name in seen)) { seen[name] = 1; order[++n] = name }
  for (i = 3; i < NF; i += 2) { v[name, who, $(i+1)] = $i }
}
function fmt(x) { return x == "" ? "-" : sprintf("%.3f", x) }
END {
  printf "%-40s %-10s %12s %12s %8s %12s\n", "benchmark", "metric", "citytwin", "bare SQL", "ratio", "render SQL"
  split("ns/op p50-ms p99-ms req/s cpu-ms/op", ms, " ")
  for (k = 1; k <= n; k++) {
    name = order[k]
    for (j = 1; j <= 5; j++) {
      m = ms[j]
      a = v[name, "citytwin", m]; b = v[name, "sql", m]; c = v[name, "render", m]
      if (a == "") continue
      if (m == "ns/op") { a = a / 1e6; if (b != "") b = b / 1e6; if (c != "") c = c / 1e6; m = "ms/op" }
      r = (b != "" && b + 0 > 0) ? sprintf("%.2f", a / b) : "-"
      printf "%-40s %-10s %12.3f %12s %8s %12s\n", name, m, a, fmt(b), r, fmt(c)
    }
  }
}' "$out"
echo
echo "load average: $(cut -d" " -f1-3 /proc/loadavg) on $(nproc) cores (figures are wall time on this shared machine)"
