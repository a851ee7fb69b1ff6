#!/usr/bin/env bash
# The local stack: moto (AWS, with its Step Functions interpreter on) behind the stackgate front door,
# and `cargo lambda watch` serving every function of the workspace.
#   scripts/local-stack.sh up | down | status
# Ports: STACKGATE_PORT (front door, 4566), STACKGATE_MOTO_PORT (4567), STACKGATE_LAMBDA_PORT (9000).
# Processes are recorded in .stackgate/run/*.pid (.stackgate/run-<port>/ for a stack on another
# front-door port, so that the tests' and the benchmark's stacks never touch a developer's) and
# stopped by those ids only.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# The binaries may come from a target dir shared with another clone: name this one.
export STACKGATE_REPO=$repo
cd "$repo"

port=${STACKGATE_PORT:-4566}
run=$repo/.stackgate/run
if [[ $port != 4566 ]]; then run=$repo/.stackgate/run-$port; fi
mkdir -p "$run"

moto_port=${STACKGATE_MOTO_PORT:-4567}
lambda_port=${STACKGATE_LAMBDA_PORT:-9000}
target=${CARGO_TARGET_DIR:-$repo/target}
endpoint=http://127.0.0.1:$port

alive() { [[ -f $run/$1.pid ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

# Starts a command in its own process group so that stopping it stops its children too.
start() { # name command...
  local name=$1; shift
  if alive "$name"; then return; fi
  setsid "$@" >"$run/$name.log" 2>&1 < /dev/null &
  echo $! >"$run/$name.pid"
}

stop() {
  local name=$1
  if alive "$name"; then
    local pid; pid=$(cat "$run/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$run/$name.pid"
}

wait_for() { # what url-or-port seconds
  local what=$1 check=$2 seconds=$3
  for _ in $(seq 1 $((seconds * 4))); do
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  echo "local-stack: $what did not come up; see $run/*.log" >&2
  tail -n 20 "$run"/*.log >&2 || true
  return 1
}

# What `up` is doing, when asked to show progress (STACKGATE_BUILD_PROGRESS=1, the demo).
say() { if [[ ${STACKGATE_BUILD_PROGRESS:-} == 1 ]]; then echo "local-stack: $*" >&2; fi; }

up() {
  local tools; tools=$("$repo/scripts/bootstrap.sh" stack)
  # STACKGATE_PROFILE=release serves release builds (the benchmark); the default is the dev profile.
  local profile=${STACKGATE_PROFILE:-dev} watch_profile=() bin_dir=debug
  if [[ $profile == release ]]; then watch_profile=(--release); bin_dir=release; fi
  # STACKGATE_BUILD_PROGRESS=1 (the demo) lets cargo show what it compiles.
  local quiet=(--quiet)
  if [[ ${STACKGATE_BUILD_PROGRESS:-} == 1 ]]; then quiet=(); fi
  cargo build --workspace --bins "${quiet[@]}" --profile "$profile"
  # moto listens on its own port; MOTO_PORT tells its Step Functions interpreter to send every
  # AWS call (Lambda included) to the front door instead. moto-server.py is moto_server with the
  # interpreter's nested-execution casing mended (see the file).
  say "starting moto, the front door and cargo-lambda"
  MOTO_PORT=$port start moto "$tools/venv-moto/bin/python" "$repo/scripts/moto-server.py" -H 127.0.0.1 -p "$moto_port"
  start frontdoor "$target/$bin_dir/stackgate-local" frontdoor --listen "127.0.0.1:$port" \
    --moto "127.0.0.1:$moto_port" --lambda "127.0.0.1:$lambda_port"
  {
    # The approval page is served by cargo-lambda's function URL locally, not by API Gateway.
    "$target/$bin_dir/stackgate-local" env-file --set "APPROVAL_BASE_URL=http://127.0.0.1:$lambda_port/lambda-url/approval-api"
    echo "AWS_ENDPOINT_URL=$endpoint"
    echo "AWS_REGION=us-east-1"
    # Each function signs with its own key (Cargo.toml's cargo-lambda metadata), under which it runs
    # as its role; one without an entry gets this key, which no role carries: every call refused.
    echo "AWS_ACCESS_KEY_ID=stackgate-function-without-a-role"
    echo "AWS_SECRET_ACCESS_KEY=test"
    echo "STACKGATE_POLL_SECONDS=1"
    # moto reads a TemplateURL path-style only when the host is "localhost".
    echo "TEMPLATE_URL_BASE=http://localhost:$port"
    echo "TEMPLATE_PATH_STYLE_HOSTS=localhost:$port,127.0.0.1:$port"
    echo "AWS_LAMBDA_LOG_FORMAT=text"
  } >"$run/functions.env"
  PATH="$tools/venv-cargo-lambda/bin:$PATH" start lambda "$tools/venv-cargo-lambda/bin/cargo-lambda" lambda watch \
    "${watch_profile[@]}" --ignore-changes -A 127.0.0.1 -P "$lambda_port" --env-file "$run/functions.env"
  wait_for moto "curl -sf http://127.0.0.1:$moto_port/moto-api/data.json" 60
  wait_for "front door" "curl -sf $endpoint/_local/health" 30
  wait_for cargo-lambda "curl -s -o /dev/null http://127.0.0.1:$lambda_port/" 120
  # The template as SAM expands it: the local deploy creates its IAM roles, and each function then
  # runs under its own (scripts/moto_iam.py; STACKGATE_IAM=off leaves every call allowed).
  say "deploying template.yaml as SAM expands it (tables, topics, roles, state machines)"
  "$tools/venv-moto/bin/python" "$repo/scripts/sam-translate.py" "$repo/template.yaml" "$run/template.json"
  STACKGATE_ENDPOINT=$endpoint "$target/$bin_dir/stackgate-local" deploy --translated "$run/template.json"
  # What the sample events name, so that `cargo lambda invoke ... --data-file events/...` works.
  say "staging what the sample events name"
  STACKGATE_ENDPOINT=$endpoint "$target/$bin_dir/stackgate-local" stage-samples >"$run/samples.log"
  echo "local stack up: $endpoint (logs in $run)"
}

down() {
  stop lambda
  stop frontdoor
  stop moto
  echo "local stack down"
}

status() {
  for name in moto frontdoor lambda; do
    if alive "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"))"; else echo "$name: stopped"; fi
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
