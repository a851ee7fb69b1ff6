#!/usr/bin/env bash
# The benchmark (issue 7): builds every function in release (and health-check untuned, to show the
# profile's effect), installs the Python and Node.js baselines, runs a local stack of its own on
# separate ports and writes docs/performance.md and docs/performance.json.
#   scripts/bench.sh [--cold-starts N] [--warm N]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# The benchmark measures a healthy local stack: no injected faults, whatever the shell says.
unset STACKGATE_FAULTS
cd "$repo"
started=$(date +%s)
target=${CARGO_TARGET_DIR:-$repo/target}
home=${STACKGATE_HOME:-$repo/.stackgate}
# A fresh run (nothing built, no tools installed) is the one the 15-minute target is judged on.
fresh=()
if [[ ! -e $target/release && ! -e $target/release-untuned && ! -e $home/venv-moto \
      && ! -e $home/venv-bench-python && ! -e $home/bench-node ]]; then
  fresh=(--fresh)
fi

# The tools (pip, npm, a C build for Node's runtime interface client) install while cargo builds:
# on a fresh machine each takes minutes, and the downloads leave the cores to the compiler.
tools_log=$(mktemp)
trap 'rm -f "$tools_log"' EXIT
("$repo/scripts/bootstrap.sh" bench && "$repo/scripts/bootstrap.sh" stack) >"$tools_log" 2>&1 &
tools=$!

echo "== release builds (one profile for everything, the local stack included)"
cargo build --release --quiet --workspace --bins
cargo build --profile release-untuned --quiet -p health-check
if ! wait "$tools"; then
  echo "bench: installing the tools failed:" >&2
  cat "$tools_log" >&2
  exit 1
fi

echo "== local stack"
export STACKGATE_PORT=${STACKGATE_BENCH_PORT:-4586}
export STACKGATE_MOTO_PORT=${STACKGATE_BENCH_MOTO_PORT:-4587}
export STACKGATE_LAMBDA_PORT=${STACKGATE_BENCH_LAMBDA_PORT:-9020}
export STACKGATE_ENDPOINT=http://127.0.0.1:$STACKGATE_PORT
export STACKGATE_PROFILE=release
# The local stack holds each stack operation in progress this long; the overhead figures subtract it.
export STACKGATE_STACK_SECONDS=${STACKGATE_STACK_SECONDS:-2}
trap 'rm -f "$tools_log"; "$repo/scripts/local-stack.sh" down >/dev/null' EXIT
"$repo/scripts/local-stack.sh" up >/dev/null

echo "== benchmark"
"$target/release/stackgate-bench" --env-file "$repo/.stackgate/run-$STACKGATE_PORT/functions.env" \
  --command-started "$started" "${fresh[@]}" "$@"
echo "bench: $(( $(date +%s) - started )) s in all, builds and tool installs included"
