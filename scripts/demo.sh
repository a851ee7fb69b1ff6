#!/usr/bin/env bash
# The main job on the local stack, no AWS account needed: starts the stack (installing what it needs
# on first use), then creates a stack, updates it safely, has an unsafe change refused, and resubmits
# an unchanged template. The stack stays up afterwards; stop it with scripts/local-stack.sh down.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
"$repo/scripts/local-stack.sh" up
STACKGATE_ENDPOINT=http://127.0.0.1:${STACKGATE_PORT:-4566} cargo run --quiet -p stackgate-local -- demo
