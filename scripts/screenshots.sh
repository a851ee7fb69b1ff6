#!/usr/bin/env bash
# Regenerates the screenshots in docs/images/ (shown in the README): the approval page as a person
# sees it on a phone, before and after approving, from the browser test on a local stack of its own.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
"$repo/scripts/bootstrap.sh" browser >/dev/null
export STACKGATE_PORT=${STACKGATE_SHOTS_PORT:-4596}
export STACKGATE_MOTO_PORT=${STACKGATE_SHOTS_MOTO_PORT:-4597}
export STACKGATE_LAMBDA_PORT=${STACKGATE_SHOTS_LAMBDA_PORT:-9030}
export STACKGATE_ENDPOINT=http://127.0.0.1:$STACKGATE_PORT
trap '"$repo/scripts/local-stack.sh" down >/dev/null' EXIT
"$repo/scripts/local-stack.sh" up >/dev/null
STACKGATE_SCREENSHOTS="$repo/docs/images" \
  cargo test --quiet -p stackgate-local --test e2e -- --ignored --test-threads 1 \
  browser::a_person_approves_on_the_page_and_the_deployment_goes_on
ls -l "$repo/docs/images"
