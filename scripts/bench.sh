#!/usr/bin/env bash
# The benchmark (issue 7): builds every function in release (and check-stack untuned, to show the
# profile's effect), installs the Python and Node.js baselines, runs a local stack of its own on
# separate ports and writes docs/performance.md and docs/performance.json.
#   scripts/bench.sh [--cold-starts N] [--warm N]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
"$repo/scripts/bootstrap.sh" bench >/dev/null

echo "== release builds (one profile for everything, the local stack included)"
cargo build --release --quiet --workspace --bins
cargo build --profile release-untuned --quiet -p check-stack

echo "== local stack"
export STACKGATE_PORT=${STACKGATE_BENCH_PORT:-4586}
export STACKGATE_MOTO_PORT=${STACKGATE_BENCH_MOTO_PORT:-4587}
export STACKGATE_LAMBDA_PORT=${STACKGATE_BENCH_LAMBDA_PORT:-9020}
export STACKGATE_ENDPOINT=http://127.0.0.1:$STACKGATE_PORT
export STACKGATE_PROFILE=release
trap '"$repo/scripts/local-stack.sh" down >/dev/null' EXIT
"$repo/scripts/local-stack.sh" up >/dev/null

echo "== benchmark"
"${CARGO_TARGET_DIR:-$repo/target}/release/stackgate-bench" --env-file "$repo/.stackgate/run-$STACKGATE_PORT/functions.env" "$@"
