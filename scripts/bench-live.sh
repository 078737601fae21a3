#!/usr/bin/env bash
# make bench-live: one `citytwin serve` on a private PostGIS, driven by the
# project's load generator (twin/loadgen): N devices publishing over HTTP and
# MQTT, M websocket clients subscribed to viewports. Prints sustained
# observations/s, ingest-to-client latency p50/p99, messages lost and the
# server's peak memory, next to the goal (20,000 obs/s, 1,000 clients,
# p99 < 100 ms, 0 lost) and the ratio, and the CPU time the server and its
# PostgreSQL used per observation (steadier than rates on a shared machine).
#
# BASE=REV (a git revision) also builds that revision and runs the same load
# against it first, in the same run, with the same load generator, and prints
# both side by side with the ratio (this / BASE).
#
# PROFILE=FILE saves a 10 s CPU profile of this tree's server, taken 10 s
# into the load (go tool pprof bin/citytwin FILE); LOADGEN_PROFILE=FILE one
# of the load generator, over its whole run (go tool pprof
# bin/citytwin-loadgen FILE).
#
# SERVER_LOG=FILE keeps this tree's server log; with SERVER_LOG_LEVEL=debug
# it has a line per ingest batch with the time of each phase (insert, lock
# wait, apply, state, commit).
#
# PROGRESS=10s has the load generator log, every 10 s, the accepted rate and
# the latency p50/p99 of that interval alone (does latency drift in a long
# run?).
#
# Knobs: DEVICES (2000) CLIENTS (1000) RATE (20000) DURATION (30s) HTTP_SHARE (0.5) BASE PROFILE LOADGEN_PROFILE
# SERVER_LOG SERVER_LOG_LEVEL PROGRESS
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-2000}
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-20000}
DURATION=${DURATION:-30s}
HTTP_SHARE=${HTTP_SHARE:-0.5}
BASE=${BASE:-}

bash scripts/build.sh >/dev/null
go build -o bin/citytwin-loadgen ./twin/loadgen/cmd/citytwin-loadgen

work=$(mktemp -d /tmp/citytwin-bench-live.XXXXXX)
chmod 755 "$work"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ -n "${SERVER_LOG:-}" ]; then cp "$work/this/server.log" "$SERVER_LOG" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "$BASE" ]; then
  mkdir -p "$work/base"
  git archive "$BASE" | tar -x -C "$work/base"
  [ -d web/dist ] && cp -r web/dist "$work/base/web/"
  (cd "$work/base" && go build -o "$work/citytwin-base" .)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu() { awk '{print ($14+$15+$16+$17)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_cpu() { # CPU seconds of the private cluster's postmaster and backends
  local pm t=0
  pm=$(pgrep -f "postgres.*$1" | head -1) || true
  [ -z "$pm" ] && { echo 0; return; }
  for p in $pm $(pgrep -P "$pm"); do t=$(awk -v a="$t" -v b="$(cpu "$p")" 'BEGIN {print a + b}'); done
  echo "$t"
}

# run_live BIN NAME: one server, one load; the loadgen's table goes to
# $work/NAME.out and the CPU figures to $work/NAME.cpu.
run_live() {
  local bin=$1 name=$2 dir http_port mqtt_port key s0 p0
  dir="$work/$name"
  mkdir -p "$dir"
  http_port=$(free_port)
  mqtt_port=$(free_port)
  export CITYTWIN_DEVICE_RATE=1000000 CITYTWIN_DEVICE_BURST=1000000
  key=$("$bin" keys create --data-dir "$dir" --role admin --name bench-live --log-level warn | grep -o 'ct_[A-Za-z0-9_-]*' | head -1)
  if [ -z "$key" ]; then echo "bench-live: could not create an admin key" >&2; exit 1; fi
  ulimit -n 65536 2>/dev/null || true
  local pprof_port="" prof=""
  if [ -n "${PROFILE:-}" ] && [ "$name" = this ]; then pprof_port=$(free_port); fi
  "$bin" serve --data-dir "$dir" --addr "127.0.0.1:$http_port" --mqtt-addr "127.0.0.1:$mqtt_port" \
    ${pprof_port:+--pprof-addr "127.0.0.1:$pprof_port"} --log-level ${SERVER_LOG_LEVEL:-warn} >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$server" 2>/dev/null; then cat "$dir/server.log" >&2; exit 1; fi
    sleep 0.2
  done
  s0=$(cpu "$server"); p0=$(pg_cpu "$dir")
  if [ -n "$pprof_port" ]; then
    (sleep 10; curl -fsS -o "$PROFILE" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=10") &
    prof=$!
  fi
  local rc=0
  ./bin/citytwin-loadgen --url "http://127.0.0.1:$http_port" --mqtt "127.0.0.1:$mqtt_port" --key "$key" \
    --devices "$DEVICES" --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION" --http-share "$HTTP_SHARE" \
    --pid "$server" ${LOADGEN_PROFILE:+--cpuprofile "$LOADGEN_PROFILE"} ${PROGRESS:+--progress "$PROGRESS"} >"$work/$name.out" || rc=$?
  if [ -n "$prof" ]; then wait "$prof" || echo "bench-live: no profile" >&2; fi
  echo "$(awk -v a="$(cpu "$server")" -v b="$s0" 'BEGIN {print a - b}') $(awk -v a="$(pg_cpu "$dir")" -v b="$p0" 'BEGIN {print a - b}') $(cut -d' ' -f1 /proc/loadavg)" >"$work/$name.cpu"
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=""
  # The next run must not pay for this one's disk writes: with the cluster
  # left in place, the kernel's writeback of its WAL and tables ran during
  # the next run and slowed its commits (the second of two runs of the same
  # build had a 1.35x higher p99).
  rm -rf "$dir/pg"
  sync
  return $rc
}

# figure NAME LABEL: the loadgen's value of a figure (its first column).
figure() { awk -v l="$2" 'index($0, l) == 1 { split(substr($0, length(l) + 1), a, " "); print a[1]; exit }' "$work/$1.out"; }
# per_obs NAME: server and PostgreSQL CPU µs per accepted observation.
per_obs() {
  local acc
  acc=$(grep -F "observations sent / accepted" "$work/$1.out" | awk '{print $NF}')
  awk -v acc="$acc" '{ if (acc > 0) printf "%.1f %.1f %s\n", $1 * 1e6 / acc, $2 * 1e6 / acc, $3; else print "- - " $3 }' "$work/$1.cpu"
}
secs() { # 1.234s, 56.7ms or 890µs -> seconds
  awk -v v="$1" 'BEGIN { if (v ~ /ms$/) { sub(/ms$/, "", v); print v / 1000 } else if (v ~ /µs$/) { sub(/µs$/, "", v); print v / 1e6 } else if (v ~ /m[0-9.]*s$/) { split(v, a, "m"); sub(/s$/, "", a[2]); print a[1] * 60 + a[2] } else { sub(/s$/, "", v); print v } }'
}

status=0
if [ -n "$BASE" ]; then
  run_live "$work/citytwin-base" base || true
fi
run_live ./bin/citytwin this || status=$?
cat "$work/this.out"
read -r srv pg load < <(per_obs this)
printf "%-34s %14s %14s %8s\n" "server CPU per observation" "${srv}µs" "-" ""
printf "%-34s %14s %14s %8s\n" "PostgreSQL CPU per observation" "${pg}µs" "-" ""
echo "load average (1 min) at the end: $load"

if [ -n "$BASE" ]; then
  read -r bsrv bpg bload < <(per_obs base)
  echo
  echo "side by side: this tree vs BASE=$BASE (same load generator, one after the other)"
  printf "%-34s %14s %14s %8s\n" "figure" "this" "base" "ratio"
  for f in "sustained observations/s" "ingest-to-client latency p50" "ingest-to-client latency p99"; do
    a=$(figure this "$f"); b=$(figure base "$f")
    if [ "$f" = "sustained observations/s" ]; then r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2fx", a / b }')
    else r=$(awk -v a="$(secs "$a")" -v b="$(secs "$b")" 'BEGIN { if (b > 0) printf "%.2fx", a / b }'); fi
    printf "%-34s %14s %14s %8s\n" "$f" "$a" "$b" "$r"
  done
  printf "%-34s %14s %14s %8s\n" "lost: (client, device) not current" "$(figure this 'lost: (client, device) not current')" "$(figure base 'lost: (client, device) not current')" ""
  printf "%-34s %14s %14s %8s\n" "server CPU µs per observation" "$srv" "$bsrv" "$(awk -v a="$srv" -v b="$bsrv" 'BEGIN { if (b > 0) printf "%.2fx", a / b }')"
  printf "%-34s %14s %14s %8s\n" "PostgreSQL CPU µs per observation" "$pg" "$bpg" "$(awk -v a="$pg" -v b="$bpg" 'BEGIN { if (b > 0) printf "%.2fx", a / b }')"
  echo "load average (1 min) at the end of each run: this $load, base $bload"
fi
exit $status
