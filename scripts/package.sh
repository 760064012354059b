#!/usr/bin/env bash
# Builds Ringdesk's Linux packages with Tauri's bundler: a .deb and an AppImage in
# target/release/bundle/ (`make package`). PROFILE=debug builds them from a debug build (what
# the test run installs: quicker, and the release build would add ~8 minutes on 2 cores);
# BUNDLES=deb limits the kinds (the AppImage fetches AppRun and linuxdeploy from GitHub on its
# first build: without network access to it, build the .deb alone).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
[ -x ui/node_modules/.bin/tauri ] || (cd ui && npm ci --silent)
(cd ui && npm run --silent build)
args=(build --bundles "${BUNDLES:-deb,appimage}")
[ "${PROFILE:-release}" = debug ] && args+=(--debug)
# The CLI finds the app from src-tauri (tauri.conf.json is linked there).
(cd src-tauri && ../ui/node_modules/.bin/tauri "${args[@]}")
ls -1 "target/${PROFILE:-release}/bundle/"*/*.{deb,AppImage} 2>/dev/null || true
