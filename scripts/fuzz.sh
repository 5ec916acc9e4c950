#!/bin/sh
# Run every Go fuzz target for a while: scripts/fuzz.sh [duration]
set -eu
t=${1:-20s}
for pkg in $(go list ./...); do
  for fz in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    echo "== $pkg $fz ($t)"
    go test -run '^$' -fuzz "^$fz\$" -fuzztime "$t" "$pkg"
  done
done
