# shellcheck shell=bash
# Sourced by the app's measuring scripts (footprint.sh, startup.sh): the binary to measure
# (their first argument, default the release build) in BIN, a headless session started and
# stopped on exit with the app in $APP killed, and a fresh data folder in RINGDESK_DATA_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${1:-target/release/ringdesk}
# shellcheck source=scripts/headless.sh
source scripts/headless.sh
trap 'kill "${APP:-0}" 2>/dev/null || true; headless_stop' EXIT
headless_start >/dev/null
export RINGDESK_DATA_DIR
RINGDESK_DATA_DIR=$(mktemp -d)
