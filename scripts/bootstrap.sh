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

# A venv is reused only when its stamp matches the pinned packages, so a version bump reinstalls.
ensure_venv() { # name stamp packages...
  local name=$1 stamp=$2; shift 2
  local dir=$home/$name
  if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then return; fi
  echo "bootstrap: installing $* into $dir" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$stamp" >"$dir/.stamp"
}

want=${1:-all}
if [[ $want == all || $want == stack ]]; then
  ensure_venv venv-moto "moto=$MOTO_VERSION" "moto[server]==$MOTO_VERSION"
  ensure_venv venv-cargo-lambda "cargo-lambda=$CARGO_LAMBDA_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
if [[ $want == all || $want == lint ]]; then
  ensure_venv venv-sam "sam=$SAM_VERSION" "aws-sam-cli==$SAM_VERSION"
  nodedir=$home/node
  if [[ ! -f $nodedir/.stamp || $(cat "$nodedir/.stamp") != "asl-validator=$ASL_VALIDATOR_VERSION" ]]; then
    echo "bootstrap: installing asl-validator@$ASL_VALIDATOR_VERSION into $nodedir" >&2
    rm -rf "$nodedir" && mkdir -p "$nodedir"
    npm install --silent --no-audit --no-fund --prefix "$nodedir" "asl-validator@$ASL_VALIDATOR_VERSION" >/dev/null
    echo "asl-validator=$ASL_VALIDATOR_VERSION" >"$nodedir/.stamp"
  fi
fi
echo "$home"
