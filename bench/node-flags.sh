# kv_store's node flags, as its launchers (npm start, make run, make start, the Docker image) pass
# them; test/launchers.test.ts checks that they agree. Sourced by run.sh, ab.sh and request-count.sh.
# shellcheck shell=bash
KV_NODE_FLAGS=(--max-semi-space-size=2 --initial-old-space-size=64)

# variant_env ENVS: splits a variant's space-separated VAR=VALUE list (ab.sh, request-count.sh)
# into VARIANT_VARS, for env, and VARIANT_FLAGS, node's flags: kv_store's own, or in their place
# those of a NODE_FLAGS=<flag>[,<flag>...] (V8 refuses such flags in NODE_OPTIONS).
variant_env() {
  local v
  VARIANT_FLAGS=("${KV_NODE_FLAGS[@]}")
  VARIANT_VARS=()
  for v in $1; do
    if [[ $v == NODE_FLAGS=* ]]; then IFS=, read -r -a VARIANT_FLAGS <<<"${v#NODE_FLAGS=}"; else VARIANT_VARS+=("$v"); fi
  done
}
