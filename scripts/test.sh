#!/usr/bin/env bash
# Sets up and runs every Ringdesk check: formatting, lints, UI type checks, unit and integration
# tests (real SQLite, real Secret Service, Prism mocks from the providers' OpenAPI specs), the
# real-time suites against real SIP peers and sound devices, and the end-to-end suite in the
# real app window. Starts and stops its own headless services.
#
# Every phase runs and is counted, whatever failed before it: the run ends with
# `total: N passed, M failed` (tests, plus one per check such as formatting) and the phases
# that failed, and exits non-zero if anything did.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${RINGDESK_SHARED:-$ROOT/../shared}
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never
[ "${CI:-}" = true ] && export CARGO_INCREMENTAL=0

if [ ! -d "$SHARED/provider-specs" ]; then
  echo "The provider specs are missing: expected $SHARED/provider-specs (set RINGDESK_SHARED)." >&2
  exit 1
fi

step() { echo; echo "==> $* ($(date +%T))"; }
SECONDS=0
PASSED=0
FAILED=0
FAILED_PHASES=()

fail_phase() {
  FAILED=$((FAILED + $2))
  FAILED_PHASES+=("$1")
}

# check NAME COMMAND…: one check, counted as one test.
check() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    PASSED=$((PASSED + 1))
  else
    echo "FAILED: $name"
    fail_phase "$name" 1
  fi
}

# nextest NAME ARGS…: a cargo-nextest run, counted test by test from its summary line
# ("Summary [ 1.2s] 30 tests run: 29 passed, 1 failed, 2 skipped"); a run that ends without
# one (it did not build) counts as one failure.
nextest() {
  local name=$1
  shift
  step "$name"
  local log
  log=$(mktemp)
  cargo nextest run --workspace --no-fail-fast --run-ignored all "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local summary passed failed
  summary=$(grep -E '^ *Summary \[' "$log" | tail -1)
  rm -f "$log"
  passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || true)
  failed=$(grep -oE '[0-9]+ (failed|timed out)' <<<"$summary" | awk '{s+=$1} END {print s+0}')
  passed=${passed:-0}
  failed=${failed:-0}
  if [ -z "$summary" ] || { [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; }; then
    failed=$((failed + 1))
  fi
  PASSED=$((PASSED + passed))
  [ "$failed" -gt 0 ] && fail_phase "$name" "$failed"
  return 0
}

step setup
if ! bash scripts/setup.sh test; then
  fail_phase setup 1
fi

check "format" cargo fmt --all -- --check
check "UI types and build" bash -c 'cd ui && npm run --silent check && npm run --silent build'
check "clippy (-D warnings)" cargo clippy --workspace --all-targets --quiet -- -D warnings
check "build" cargo build --workspace --all-targets --quiet

# shellcheck source=scripts/headless.sh
source scripts/headless.sh
# shellcheck source=scripts/mocks.sh
source scripts/mocks.sh
# shellcheck source=scripts/sip-peers.sh
source scripts/sip-peers.sh
trap 'sip_peers_stop; mocks_stop; headless_stop' EXIT
check "headless session" headless_start
check "spec mocks" mocks_start
check "SIP peers (kamailio)" kamailio_start

# The real-time binaries (scripts/real-time-tests.txt) as one nextest filterset.
REAL_TIME=$(grep -vE '^\s*(#|$)' scripts/real-time-tests.txt | sed 's/.*/(&)/' | paste -sd'|' -)
nextest "tests (including keyring, spec-mock and kamailio tests)" -E "not ($REAL_TIME)"
nextest "real-time tests, one at a time" -E "$REAL_TIME" --test-threads 1

step "doc tests"
DOC_LOG=$(mktemp)
cargo test --workspace --doc --quiet 2>&1 | tee "$DOC_LOG"
doc_status=${PIPESTATUS[0]}
doc_passed=$(grep -Eo '[0-9]+ passed' "$DOC_LOG" | awk '{s+=$1} END {print s+0}')
doc_failed=$(grep -Eo '[0-9]+ failed' "$DOC_LOG" | awk '{s+=$1} END {print s+0}')
[ "$doc_status" -ne 0 ] && [ "$doc_failed" -eq 0 ] && doc_failed=1
PASSED=$((PASSED + doc_passed))
[ "$doc_failed" -gt 0 ] && fail_phase "doc tests" "$doc_failed"

# suite NAME LABEL COMMAND…: a node suite that ends with `LABEL: N passed, M failed`, counted
# test by test; no such line means the suite itself broke (one failure).
suite() {
  local name=$1 label=$2
  shift 2
  step "$name"
  local log
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local status=${PIPESTATUS[0]}
  local passed failed
  passed=$(sed -n "s/^$label: \([0-9]*\) passed, [0-9]* failed$/\1/p" "$log" | tail -1)
  failed=$(sed -n "s/^$label: [0-9]* passed, \([0-9]*\) failed$/\1/p" "$log" | tail -1)
  rm -f "$log"
  passed=${passed:-0}
  failed=${failed:-1}
  [ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
  PASSED=$((PASSED + passed))
  [ "$failed" -gt 0 ] && fail_phase "$name" "$failed"
  return 0
}

suite "end-to-end in the app window" e2e node tests/e2e/run.mjs

# The .deb from Tauri's bundler (of the debug build: a release build would add ~8 minutes),
# installed on this machine, driven, and removed.
package_test() {
  PROFILE=debug BUNDLES=deb bash scripts/package.sh || return 1
  local deb
  deb=$(ls -t target/debug/bundle/deb/*.deb | head -1)
  RINGDESK_DEB="$ROOT/$deb" node tests/package/installed.mjs
}
suite "package (.deb): installed, takes links, removed" package package_test

echo
echo "screenshots: target/e2e/   time: ${SECONDS}s"
if [ ${#FAILED_PHASES[@]} -gt 0 ]; then
  printf -v failed_in '%s; ' "${FAILED_PHASES[@]}"
  echo "failed in: ${failed_in%; }"
fi
echo "total: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
