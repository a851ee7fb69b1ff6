#!/usr/bin/env bash
# Writes docs/reliability.md: runs the whole test suite (scripts/test.sh), whose hardening tests
# record what they checked, and renders the records. CI runs the same suite and fails when the
# committed file differs from what the tests give.
set -euo pipefail
STACKGATE_WRITE_RELIABILITY=1 exec "$(dirname "$0")/test.sh"
