#!/usr/bin/env bash
# Builds and starts ringdesk-server, the team server, with its embedded SQLite database in
# ./ringdesk-server-data (or $RINGDESK_SERVER_DATA_DIR). Nothing else to install: it needs
# Rust only. On the first start it prints the link the first admin's desktop joins with.
# Arguments go to the server (e.g. --config deploy/ringdesk-server.toml).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if ! command -v cargo >/dev/null; then
  echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
echo "==> building ringdesk-server"
cargo build --release -p ringdesk-server
SERVER=./target/release/ringdesk-server
DATA=${RINGDESK_SERVER_DATA_DIR:-ringdesk-server-data}
if [ ! -e "$DATA/team.db" ]; then
  echo "==> a new team: the first admin joins with this link (once, within the hour):"
  "$SERVER" "$@" invite --admin --name "Admin"
fi
exec "$SERVER" "$@" serve
