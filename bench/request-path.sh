#!/usr/bin/env bash
# Instructions kv_store's own code runs for one request (bench/request-path.mjs: no socket, no
# event loop), counted by callgrind, builds side by side. Two runs of each build, of 30,000 and
# 150,000 requests after the same start and warm-up; their difference over 120,000 is the count
# a request, steadier than any clock on a shared machine.
#
#   bash bench/request-path.sh "get put" LABEL:DIST [LABEL:DIST ...]
#   bash bench/request-path.sh put before:../base/src/kv_store/dist now:src/kv_store/dist
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/node-flags.sh
source bench/node-flags.sh
loads=$1
shift
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
ir() { # DIST LOAD N -> instructions of the whole run
  valgrind --tool=callgrind --callgrind-out-file="$out/cg" node --single-threaded "${KV_NODE_FLAGS[@]}" bench/request-path.mjs "$1" "$2" "$3" >/dev/null 2>&1
  awk '/^(summary|totals):/ { print $2; exit }' "$out/cg"
  rm -f "$out"/cg*
}
printf '%-6s %-12s %12s\n' load build "Ir/request"
for load in $loads; do
  for spec in "$@"; do
    IFS=: read -r label dist <<<"$spec"
    a=$(ir "$dist" "$load" 30000)
    b=$(ir "$dist" "$load" 150000)
    printf '%-6s %-12s %12s\n' "$load" "$label" $(((b - a) / 120000))
  done
done
