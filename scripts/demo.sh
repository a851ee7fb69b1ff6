#!/usr/bin/env bash
# The main job on the local stack, no AWS account needed: starts the stack (installing what it needs
# on first use), then creates a stack, updates it safely, has an unsafe change refused, and resubmits
# an unchanged template. The stack stays up afterwards; stop it with scripts/local-stack.sh down.
# On a fresh machine the first run installs the tools and builds everything (measured: see the
# README); each step says what it is doing and cargo shows its own progress.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
started=$(date +%s)
step() { echo "demo [$(($(date +%s) - started)) s]: $*" >&2; }
export STACKGATE_BUILD_PROGRESS=1

# The tools install while cargo builds: the downloads leave the cores to the compiler.
home=${STACKGATE_HOME:-$repo/.stackgate}
mkdir -p "$home"
tools_log=$home/demo-tools.log
step "installing the local stack's tools in the background unless present (moto, cfn-lint, SAM's translator, cargo-lambda; pip's output in $tools_log)"
"$repo/scripts/bootstrap.sh" stack >"$tools_log" 2>&1 &
tools=$!
step "building the functions and the local stack (cargo's progress follows; the first build takes minutes)"
cargo build --workspace --bins
if ! wait "$tools"; then
  echo "demo: installing the tools failed:" >&2
  cat "$tools_log" >&2
  exit 1
fi
step "tools ready; starting the local stack"
"$repo/scripts/local-stack.sh" up
step "running the demo"
# The binary the workspace build made: `cargo run -p stackgate-local` would resolve the features of
# that one package and build the SDK crates again (minutes on a fresh machine, silently).
STACKGATE_ENDPOINT=http://127.0.0.1:${STACKGATE_PORT:-4566} "${CARGO_TARGET_DIR:-$repo/target}/debug/stackgate-local" demo
step "done"
