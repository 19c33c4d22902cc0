#!/usr/bin/env bash
# Instructions per memory-engine operation, two builds side by side, counted by callgrind
# (bench/engine-op-count.mjs at N1 and N2 operations; the difference over N2 - N1).
#
#   bash bench/engine-op-ab.sh <distA> <distB> [ops] [N1] [N2]
#   bash bench/engine-op-ab.sh src/kv_store/dist-base src/kv_store/dist "create overwrite get delete create-ttl" 1000 5000
set -euo pipefail
A=$1 B=$2
OPS=${3:-create overwrite get delete create-ttl txn-incr}
N1=${4:-1000} N2=${5:-5000}
count() { # DIST OP N -> instructions
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file=/dev/null node --single-threaded \
    "$(dirname "$0")/engine-op-count.mjs" "$1" "$2" "$3" 2>"$out" >/dev/null
  grep -o 'refs: *[0-9,]*' "$out" | tr -d ', ' | cut -d: -f2
  rm -f "$out"
}
printf '%-12s %14s %14s %8s\n' op "A Ir/op" "B Ir/op" "B/A"
for op in $OPS; do
  a1=$(count "$A" "$op" "$N1") a2=$(count "$A" "$op" "$N2")
  b1=$(count "$B" "$op" "$N1") b2=$(count "$B" "$op" "$N2")
  awk -v op="$op" -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" -v n=$((N2 - N1)) \
    'BEGIN { a = (a2 - a1) / n; b = (b2 - b1) / n; printf "%-12s %14.0f %14.0f %8.3f\n", op, a, b, b / a }'
done
