#!/usr/bin/env bash
# Regenerates the screenshots in docs/images/ (shown in the README): the approval page as a person
# sees it on a phone, before and after approving, from the browser test on a local stack of its own;
# and the CLI on a terminal (a pty, as `script` gives one), rendered by Chromium.
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

# The CLI as a person sees it: a terminal (colour, the progress bar), a deploy, a plan, a refusal.
cargo build --quiet -p stackgate-cli
cli=${CARGO_TARGET_DIR:-$repo/target}/debug/stackgate
shots=$(mktemp -d)
trap 'rm -rf "$shots"; "$repo/scripts/local-stack.sh" down >/dev/null' EXIT
stack=shots$(date +%s)
templates=examples/templates
export STACKGATE_API_URL=http://127.0.0.1:$STACKGATE_LAMBDA_PORT/lambda-url/stacks-api
export AWS_ENDPOINT_URL=$STACKGATE_ENDPOINT TERM=xterm-256color COLUMNS=110
{
  echo "\$ stackgate deploy -e demo -s $stack -t $templates/app-v1.yaml --yes"
  script -qec "$cli deploy -e demo -s $stack -t $templates/app-v1.yaml --yes" /dev/null || true
  echo "\$ stackgate plan -e demo -s $stack -t $templates/app-v2-safe.yaml"
  script -qec "$cli plan -e demo -s $stack -t $templates/app-v2-safe.yaml" /dev/null || true
  echo "\$ stackgate deploy -e demo -s $stack -t $templates/app-v3-unsafe.yaml"
  script -qec "$cli deploy -e demo -s $stack -t $templates/app-v3-unsafe.yaml" /dev/null || true
} >"$shots/cli.txt"
sed 's/\x1b\[[0-9;]*m//g' "$shots/cli.txt" | grep -q "CREATED demo-$stack" || { cat "$shots/cli.txt"; echo "screenshots: the CLI did not deploy" >&2; exit 1; }
python3 "$repo/scripts/ansi-html.py" "$shots/cli.txt" "stackgate on a terminal" >"$shots/cli.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=900,860 \
  --screenshot="$repo/docs/images/cli.png" "file://$shots/cli.html" 2>/dev/null
ls -l "$repo/docs/images"
