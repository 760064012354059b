#!/usr/bin/env bash
# Start-up figure (a benchmark, not a test): from the process start to the main window's first
# screen — the dialpad — as the app itself measures it (src-tauri/src/figures.rs), over RUNS
# starts (default 5) under the headless session. The first start of a new data folder (the
# journal created, WebKit's caches empty) is the first line.
#   scripts/startup.sh [path-to-binary]   (default: target/release/ringdesk)
# shellcheck source=scripts/app-bench.sh
source "$(dirname "$0")/app-bench.sh"
figures=()
for i in $(seq 1 "${RUNS:-5}"); do
  log=$(mktemp)
  "$BIN" >"$log" 2>&1 &
  APP=$!
  for _ in $(seq 1 300); do
    grep -q "figure: main window shown" "$log" && break
    sleep 0.1
  done
  ms=$(sed -n 's/.*figure: main window shown \([0-9]*\) ms.*/\1/p' "$log" | head -1)
  kill "$APP" 2>/dev/null || true
  wait "$APP" 2>/dev/null || true
  rm -f "$log"
  echo "start $i: ${ms:-no figure} ms to the dialpad"
  [ -n "$ms" ] && figures+=("$ms")
  sleep 1
done
[ ${#figures[@]} -gt 0 ] && printf '%s\n' "${figures[@]}" | sort -n |
  awk '{a[NR]=$1} END {printf "median %d ms, best %d ms, worst %d ms (%d starts)\n", a[int((NR+1)/2)], a[1], a[NR], NR}'
