#!/usr/bin/env bash
# Every check and test of the project; .ci/run calls this. Installs what it needs on first use.
# The end-to-end tests get a local stack of their own on separate ports (stopped on exit).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
tools=$("$repo/scripts/bootstrap.sh" all)
# Faults are injected only where a step asks for them (below), never inherited from the shell.
unset STACKGATE_FAULTS
# The hardening tests leave one record per passed check here; docs/reliability.md is made from them.
records=${CARGO_TARGET_DIR:-$repo/target}/reliability-records
rm -rf "$records"
export STACKGATE_REPORT_DIR=$records

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# health-check builds the library without its `aws` feature, which the workspace build always has.
cargo clippy -p health-check --all-targets --quiet -- -D warnings

echo "== template and state machine checks"
SAM_CLI_TELEMETRY=0 "$tools/venv-sam/bin/sam" validate --lint --template template.yaml
"$tools/venv-sam/bin/cfn-lint" template.yaml examples/pipeline.yaml examples/cloudformation-service-role.yaml examples/target-account-role.yaml examples/templates/*.yaml
cargo run --quiet -p stackgate-local -- check-template template.yaml
# checkov reads plain CloudFormation: the template as SAM expands it (offline, aws-sam-translator).
expanded=$(mktemp -d)
"$tools/venv-checkov/bin/python" scripts/sam-translate.py template.yaml "$expanded/template.json"
"$tools/venv-checkov/bin/python" scripts/checkov.py "$tools/venv-checkov/bin/checkov" \
  "$expanded/template.json" scripts/checkov-skips.txt
# IAM of the state machines, from the same expansion: every Task's documented actions are granted by
# its role. It must bite: a copy of the template without one grant fails, naming the state.
cargo run --quiet -p stackgate-local -- check-iam "$expanded/template.json"
mkdir "$expanded/missing-grant" && cp -r statemachines "$expanded/missing-grant/"
sed '/- dynamodb:UpdateItem$/d' template.yaml >"$expanded/missing-grant/template.yaml"
"$tools/venv-checkov/bin/python" scripts/sam-translate.py "$expanded/missing-grant/template.yaml" "$expanded/missing.json"
if cargo run --quiet -p stackgate-local -- check-iam "$expanded/missing.json" 2>"$expanded/gap.txt"; then
  echo "check-iam passed a template without dynamodb:UpdateItem" >&2
  exit 1
fi
grep -q "state KeepLease needs dynamodb:UpdateItem" "$expanded/gap.txt"
rm -rf "$expanded"
for definition in statemachines/*.asl.json benches/polling-baseline.asl.json; do
  "$tools/node/node_modules/.bin/asl-validator" --json-path "$definition"
done

echo "== unit and SDK-level tests"
cargo test --workspace --quiet
"$tools/venv-moto/bin/python" -m unittest discover --start-directory scripts --pattern "test_*.py"

echo "== end-to-end tests on the local stack"
export STACKGATE_PORT=${STACKGATE_TEST_PORT:-4576}
export STACKGATE_MOTO_PORT=${STACKGATE_TEST_MOTO_PORT:-4577}
export STACKGATE_LAMBDA_PORT=${STACKGATE_TEST_LAMBDA_PORT:-9010}
export STACKGATE_ENDPOINT=http://127.0.0.1:$STACKGATE_PORT
trap '"$repo/scripts/local-stack.sh" down' EXIT
"$repo/scripts/local-stack.sh" up
# Every function and state machine runs under its own role from the template (IAM enforced); the
# tests that take a grant away from one run alone, after the others.
cargo test --quiet -p stackgate-local --test e2e -- --ignored --test-threads 2 --skip iam::
cargo test --quiet -p stackgate-local --test e2e -- --ignored --test-threads 1 iam::
echo "== the CLI (the stackgate binary) against the same stack"
cargo test --quiet -p stackgate-cli --test local -- --ignored --test-threads 2
echo "== secrets and quiet: every function's binary at TRACE with secrets in its events and environment, and at the default level"
cargo test --quiet -p stackgate-bench --test secrets --test staging --test quiet -- --ignored --test-threads 2
echo "== the demo (the README's first command) on the same stack"
cargo run --quiet -p stackgate-local -- demo
echo "== the load on the API (the README's load command; the figures of a run on a fresh stack are in docs/load.json)"
cargo run --quiet -p stackgate-local -- load

echo "== the safe-deploy, API and approval suites again, under injected AWS faults (STACKGATE_FAULTS)"
# Every call the functions and the state machines make may be throttled, fail with a server error, or
# lose its answer after being carried out; half the answers to waiting tasks lose their reply (the
# approval page must still report a delivered decision as delivered).
"$repo/scripts/local-stack.sh" down
STACKGATE_FAULTS="throttle=0.1,5xx=0.05,timeout=0.02,states.SendTaskSuccess:timeout=0.5,states.SendTaskFailure:timeout=0.5,seed=7" \
  "$repo/scripts/local-stack.sh" up
cargo test --quiet -p stackgate-local --test e2e -- --ignored --test-threads 2 deploy:: api:: approvals::
cargo run --quiet -p stackgate-local -- fault-report --suite deploy:: --suite api:: --suite approvals::

echo "== reliability figures (docs/reliability.md)"
if [[ ${STACKGATE_WRITE_RELIABILITY:-} == 1 ]]; then
  cargo run --quiet -p stackgate-local -- reliability-report --records "$records"
elif [[ -n ${FUZZ_CASES:-} || -n ${FUZZ_SEED:-} ]]; then
  echo "skipped: FUZZ_CASES/FUZZ_SEED change the figures"
else
  cargo run --quiet -p stackgate-local -- reliability-report --records "$records" --check
fi
