#!/usr/bin/env bash
# Sets up, builds and starts Ringdesk with its default SQLite journal in the OS data folder.
# Without a desktop session (no DISPLAY / session bus) it starts a private headless one and
# saves a screenshot of the window to target/screenshot.png.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

bash scripts/setup.sh run
echo "==> building the UI"
(cd ui && npm run build --silent)
echo "==> building Ringdesk"
cargo build -p ringdesk

if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] || [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  bash scripts/setup.sh test >/dev/null
  # shellcheck source=scripts/headless.sh
  source scripts/headless.sh
  trap headless_stop EXIT
  headless_start
  echo "No desktop session here: Ringdesk runs on virtual display $DISPLAY."
  ./target/debug/ringdesk "$@" &
  APP=$!
  sleep 6
  mkdir -p target
  import -window root target/screenshot.png && echo "Screenshot of the window: target/screenshot.png"
  echo "Ringdesk is running (pid $APP). Press Ctrl+C to stop it."
  wait $APP
else
  exec ./target/debug/ringdesk "$@"
fi
