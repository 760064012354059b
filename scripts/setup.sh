#!/usr/bin/env bash
# Installs what Ringdesk needs on Debian 12 / Ubuntu 22.04+ and is safe to run again.
#   scripts/setup.sh run   — build and run the app (system libraries, UI packages)
#   scripts/setup.sh test  — also the headless test session, spec mocks and tauri-driver
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-test}

BUILD_PACKAGES=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev
  pkg-config build-essential libasound2-dev libdbus-1-dev libxdo-dev file curl
  desktop-file-utils xdg-utils gnome-keyring libopus-dev libwebrtc-audio-processing-dev libclang-dev)
TEST_PACKAGES=(xvfb xauth webkit2gtk-driver dbus-x11 libsecret-tools dunst libnotify-bin
  pulseaudio pulseaudio-utils libasound2-plugins alsa-utils keyutils imagemagick python3
  kamailio kamailio-tls-modules openssl sip-tester baresip espeak-ng sox)
TAURI_DRIVER_VERSION=2.1.0

packages=("${BUILD_PACKAGES[@]}")
[ "$MODE" = test ] && packages+=("${TEST_PACKAGES[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing system packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "Rust is missing: install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
if ! command -v node >/dev/null || ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)'; then
  echo "Node.js 20.19 or newer is needed to build the UI (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

echo "==> UI packages"
(cd "$ROOT/ui" && npm ci --no-audit --no-fund --loglevel=error)

if [ "$MODE" = test ]; then
  echo "==> test packages (Prism spec mocks)"
  (cd "$ROOT/tests" && npm ci --no-audit --no-fund --loglevel=error)
  if ! command -v tauri-driver >/dev/null && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    echo "==> tauri-driver $TAURI_DRIVER_VERSION"
    cargo install tauri-driver --version "$TAURI_DRIVER_VERSION" --locked --quiet
  fi
fi
