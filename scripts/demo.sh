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
step "installing the local stack's tools (moto, cfn-lint, SAM's translator, cargo-lambda) unless present"
"$repo/scripts/bootstrap.sh" stack >/dev/null
step "building the functions and the local stack (cargo's progress follows; the first build takes minutes)"
"$repo/scripts/local-stack.sh" up
step "running the demo"
STACKGATE_ENDPOINT=http://127.0.0.1:${STACKGATE_PORT:-4566} cargo run --quiet -p stackgate-local -- demo
step "done"
