#!/usr/bin/env bash
# make bench-ingest: the twin's ingest paths against the reference, plain
# pgx COPY of the same rows into the observations table (no checks, state,
# rules, events or acknowledgement). Prints observations/s side by side and
# the ratio (ingest / reference).
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
  { for (i = 1; i < NF; i++) if ($(i+1) == "obs/s") { v[$1] = $i } }
  END {
    ref = v["BenchmarkCopyReference-2"]; if (ref == "") for (k in v) if (k ~ /CopyReference/) ref = v[k]
    printf "%-28s %14s %14s %8s\n", "path", "obs/s", "COPY obs/s", "ratio"
    for (k in v) if (k !~ /CopyReference/) {
      name = k; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
      printf "%-28s %14.0f %14.0f %8.2f\n", name, v[k], ref, v[k] / ref
    }
  }'
