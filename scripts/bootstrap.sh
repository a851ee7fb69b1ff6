#!/usr/bin/env bash
# Installs the local tooling stackgate needs (pinned), idempotently, from the package registries.
# Everything lands under $STACKGATE_HOME (default: <repo>/.stackgate); CI points it at a cache outside the clone.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
home=${STACKGATE_HOME:-$repo/.stackgate}
mkdir -p "$home"

MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2
SAM_VERSION=1.170.0
ASL_VALIDATOR_VERSION=4.0.0
CHECKOV_VERSION=3.3.30
SAM_TRANSLATOR_VERSION=1.115.0
AWSLAMBDARIC_VERSION=4.2.2
BOTO3_VERSION=1.44.5
NODE_SDK_VERSION=3.1169.0  # also pinned in benches/baselines/node/package.json
NODE_RIC_VERSION=4.0.2
CMAKE_VERSION=4.4.4
CFN_LINT_VERSION=1.58.0  # its resource schemas tell the local change sets what replaces

# A venv is reused only when its stamp matches the pinned packages, so a version bump reinstalls.
ensure_venv() { # name stamp packages...
  local name=$1 stamp=$2; shift 2
  local dir=$home/$name
  if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then return; fi
  echo "bootstrap: installing $* into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  # STACKGATE_BUILD_PROGRESS=1 (the demo) shows what pip fetches and installs.
  local quiet=(--quiet)
  if [[ ${STACKGATE_BUILD_PROGRESS:-} == 1 ]]; then quiet=(--progress-bar off); fi
  "$dir/bin/pip" install "${quiet[@]}" --disable-pip-version-check "$@" >&2
  echo "$stamp" >"$dir/.stamp"
}

want=${1:-all}
if [[ $want == all || $want == stack ]]; then
  # aws-sam-translator: the local stack creates the IAM roles of the template as SAM expands it.
  ensure_venv venv-moto "moto=$MOTO_VERSION,cfn-lint=$CFN_LINT_VERSION,translator=$SAM_TRANSLATOR_VERSION" \
    "moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
  ensure_venv venv-cargo-lambda "cargo-lambda=$CARGO_LAMBDA_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
if [[ $want == all || $want == lint ]]; then
  ensure_venv venv-sam "sam=$SAM_VERSION" "aws-sam-cli==$SAM_VERSION"
  ensure_venv venv-checkov "checkov=$CHECKOV_VERSION,translator=$SAM_TRANSLATOR_VERSION" \
    "checkov==$CHECKOV_VERSION" "aws-sam-translator==$SAM_TRANSLATOR_VERSION"
  nodedir=$home/node
  if [[ ! -f $nodedir/.stamp || $(cat "$nodedir/.stamp") != "asl-validator=$ASL_VALIDATOR_VERSION" ]]; then
    echo "bootstrap: installing asl-validator@$ASL_VALIDATOR_VERSION into $nodedir" >&2
    rm -rf "$nodedir" && mkdir -p "$nodedir"
    npm install --silent --no-audit --no-fund --prefix "$nodedir" "asl-validator@$ASL_VALIDATOR_VERSION" >/dev/null
    echo "asl-validator=$ASL_VALIDATOR_VERSION" >"$nodedir/.stamp"
  fi
fi
if [[ $want == all || $want == browser ]]; then
  # The approval page's browser test: Debian's Chromium and its WebDriver (the distribution's
  # security updates, not a pin: a browser is only as good as its last fix).
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "bootstrap: installing chromium and chromium-driver (apt)" >&2
    sudo=(); if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      chromium chromium-driver >&2
  fi
fi
if [[ $want == bench ]]; then
  # Baselines of the benchmark: check-stack in Python (awslambdaric, boto3) and Node.js (AWS SDK v3,
  # under the npm runtime interface client when it builds here).
  ensure_venv venv-bench-python "awslambdaric=$AWSLAMBDARIC_VERSION,boto3=$BOTO3_VERSION" \
    "awslambdaric==$AWSLAMBDARIC_VERSION" "boto3==$BOTO3_VERSION"
  benchnode=$home/bench-node
  stamp="sdk=$NODE_SDK_VERSION,ric=$NODE_RIC_VERSION"
  if [[ ! -f $benchnode/.stamp || $(cat "$benchnode/.stamp") != "$stamp" ]]; then
    echo "bootstrap: installing the Node.js baseline into $benchnode" >&2
    rm -rf "$benchnode" && mkdir -p "$benchnode"
    cp "$repo/benches/baselines/node/package.json" "$benchnode/"
    npm install --silent --no-audit --no-fund --prefix "$benchnode" >/dev/null
    # aws-lambda-ric compiles curl and aws-lambda-cpp: cmake comes from PyPI; autotools cannot.
    ensure_venv venv-bench-cmake "cmake=$CMAKE_VERSION" "cmake==$CMAKE_VERSION"
    if PATH="$home/venv-bench-cmake/bin:$PATH" npm install --no-save --no-audit --no-fund \
        --prefix "$benchnode" "aws-lambda-ric@$NODE_RIC_VERSION" >"$benchnode/ric-install.log" 2>&1; then
      echo "installed" >"$benchnode/ric.status"
    else
      reason=$(grep -m1 -iE "not installed|not found|error:" "$benchnode/ric-install.log" | sed 's/^npm error //')
      echo "not installable here: ${reason:-see ric-install.log}" >"$benchnode/ric.status"
    fi
    echo "$stamp" >"$benchnode/.stamp"
  fi
  cp "$repo"/benches/baselines/node/*.mjs "$benchnode/"
fi
echo "$home"
