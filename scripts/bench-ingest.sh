#!/usr/bin/env bash
# make bench-ingest: the twin's ingest paths against the reference, plain
# pgx COPY of the same rows into the observations table (no checks, state,
# rules, events or acknowledgement). Prints observations/s side by side and
# the ratio (ingest / reference), and the CPU time per observation of the
# benchmark's process (server and client) and of the database's backends,
# which a shared machine disturbs far less than the rates.
#
#   HTTP: 4 gateways posting batches of 1,000 observations, 200 OK after commit
#   MQTT: 50 device connections, QoS 1, up to 32 in flight, PUBACK after commit
#
# Knobs: BENCHTIME (5s, HTTP and COPY), MQTT_MESSAGES (20000)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-5s}
MQTT_MESSAGES=${MQTT_MESSAGES:-20000}
out=$( (go test ./twin/ -run '^$' -bench 'IngestHTTP|CopyReference' -benchtime "$BENCHTIME" 2>/dev/null
        go test ./twin/ -run '^$' -bench 'IngestMQTT' -benchtime "${MQTT_MESSAGES}x" 2>/dev/null) | grep '^Benchmark')
echo "$out"
echo
echo "$out" | awk '
  { for (i = 1; i < NF; i++) {
      if ($(i+1) == "obs/s") v[$1] = $i
      if ($(i+1) == "proc-cpu-µs/obs") p[$1] = $i
      if ($(i+1) == "pg-cpu-µs/obs") g[$1] = $i
  } }
  END {
    for (k in v) if (k ~ /CopyReference/) ref = k
    printf "%-22s %12s %12s %7s %16s %14s\n", "path", "obs/s", "COPY obs/s", "ratio", "process µs/obs", "PG µs/obs"
    for (k in v) {
      name = k; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
      printf "%-22s %12.0f %12.0f %7.2f %16s %14s\n", name, v[k], v[ref], v[k] / v[ref], p[k], g[k]
    }
  }'
