#!/usr/bin/env bash
# Sets up and runs every Ringdesk check: formatting, lints, UI type checks, unit and integration
# tests (real SQLite, real Secret Service, Prism mocks from the providers' OpenAPI specs) and the
# end-to-end suite in the real app window. Starts and stops its own headless services.
set -euo pipefail
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

step setup
bash scripts/setup.sh test

step "format and lints"
cargo fmt --all -- --check
(cd ui && npm run --silent check && npm run --silent build)
cargo clippy --workspace --all-targets --quiet -- -D warnings

step build
cargo build --workspace --all-targets --quiet

# shellcheck source=scripts/headless.sh
source scripts/headless.sh
# shellcheck source=scripts/mocks.sh
source scripts/mocks.sh
# shellcheck source=scripts/sip-peers.sh
source scripts/sip-peers.sh
trap 'sip_peers_stop; mocks_stop; headless_stop' EXIT
step "headless session, spec mocks, SIP peers"
headless_start
mocks_start
kamailio_start

LOG=$(mktemp)
step "cargo tests (including keyring, spec-mock and kamailio tests)"
cargo test --workspace --quiet -- --include-ignored 2>&1 | tee "$LOG"
rust_passed=$(grep -Eo '[0-9]+ passed' "$LOG" | awk '{s+=$1} END {print s+0}')
rust_failed=$(grep -Eo '[0-9]+ failed' "$LOG" | awk '{s+=$1} END {print s+0}')

step "end-to-end in the app window"
e2e_status=0
node tests/e2e/run.mjs 2>&1 | tee "$LOG" || e2e_status=$?
e2e_passed=$(sed -n 's/^e2e: \([0-9]*\) passed, [0-9]* failed$/\1/p' "$LOG" | tail -1)
e2e_failed=$(sed -n 's/^e2e: [0-9]* passed, \([0-9]*\) failed$/\1/p' "$LOG" | tail -1)
# No summary line means the suite itself broke: count that as a failure.
e2e_passed=${e2e_passed:-0}
e2e_failed=${e2e_failed:-1}

echo
echo "screenshots: target/e2e/   time: ${SECONDS}s"
echo "total: $((rust_passed + e2e_passed)) passed, $((rust_failed + e2e_failed)) failed"
[ "$e2e_status" -eq 0 ] && [ "$rust_failed" -eq 0 ]
