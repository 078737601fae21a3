#!/usr/bin/env bash
# make bench-live: one `citytwin serve` on a private PostGIS, driven by the
# project's load generator (twin/loadgen): N devices publishing over HTTP and
# MQTT, M websocket clients subscribed to viewports. Prints sustained
# observations/s, ingest-to-client latency p50/p99, messages lost and the
# server's peak memory, next to the goal (20,000 obs/s, 1,000 clients,
# p99 < 100 ms, 0 lost) and the ratio.
#
# Knobs: DEVICES (2000) CLIENTS (1000) RATE (20000) DURATION (30s) HTTP_SHARE (0.5)
set -euo pipefail
cd "$(dirname "$0")/.."

DEVICES=${DEVICES:-2000}
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-20000}
DURATION=${DURATION:-30s}
HTTP_SHARE=${HTTP_SHARE:-0.5}

bash scripts/build.sh >/dev/null
go build -o bin/citytwin-loadgen ./twin/loadgen/cmd/citytwin-loadgen

dir=$(mktemp -d /tmp/citytwin-bench-live.XXXXXX)
chmod 755 "$dir"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(free_port)
mqtt_port=$(free_port)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

export CITYTWIN_DEVICE_RATE=1000000 CITYTWIN_DEVICE_BURST=1000000
key=$(./bin/citytwin keys create --data-dir "$dir" --role admin --name bench-live --log-level warn | grep -o 'ct_[A-Za-z0-9_-]*' | head -1)
if [ -z "$key" ]; then echo "bench-live: could not create an admin key" >&2; exit 1; fi

ulimit -n 65536 2>/dev/null || true
./bin/citytwin serve --data-dir "$dir" --addr "127.0.0.1:$http_port" --mqtt-addr "127.0.0.1:$mqtt_port" \
  --log-level warn >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$server" 2>/dev/null; then cat "$dir/server.log" >&2; exit 1; fi
  sleep 0.2
done

./bin/citytwin-loadgen --url "http://127.0.0.1:$http_port" --mqtt "127.0.0.1:$mqtt_port" --key "$key" \
  --devices "$DEVICES" --clients "$CLIENTS" --rate "$RATE" --duration "$DURATION" --http-share "$HTTP_SHARE" \
  --pid "$server"
