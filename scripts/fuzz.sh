#!/usr/bin/env bash
# Runs every fuzz target of the project for a short time each (default 3s):
# make test runs it briefly; `make fuzz FUZZTIME=10m` fuzzes for longer.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:-3s}
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "fuzz $pkg $target"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$t" "$pkg" >/tmp/citytwin-fuzz.log 2>&1; then
      cat /tmp/citytwin-fuzz.log; status=1
    fi
  done
done
exit $status
