#!/usr/bin/env bash
# Idle memory of the running app, whole process tree (WebKit processes included), 5 s after
# start under the headless session: RSS and PSS per process and in total, in MB.
#   scripts/footprint.sh [path-to-binary]   (default: target/release/ringdesk)
#   TRAY=1 scripts/footprint.sh …            the app started into the tray (--background,
#                                            as a start at login does; also what closing the
#                                            window to the tray leaves)
# shellcheck source=scripts/app-bench.sh
source "$(dirname "$0")/app-bench.sh"
if [ -n "${TRAY:-}" ]; then
  "$BIN" --background >/dev/null 2>&1 &
else
  "$BIN" >/dev/null 2>&1 &
fi
APP=$!
sleep "${SETTLE:-5}"
tree() { echo "$1"; for c in $(pgrep -P "$1"); do tree "$c"; done; }
total_rss=0 total_pss=0
printf '%-28s %8s %8s\n' process "RSS MB" "PSS MB"
for pid in $(tree "$APP"); do
  [ -r "/proc/$pid/smaps_rollup" ] || continue
  name=$(cat "/proc/$pid/comm")
  rss=$(awk '/^Rss:/ {print $2}' "/proc/$pid/smaps_rollup")
  pss=$(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup")
  total_rss=$((total_rss + rss)) total_pss=$((total_pss + pss))
  awk -v n="$name" -v r="$rss" -v p="$pss" 'BEGIN {printf "%-28s %8.1f %8.1f\n", n, r/1024, p/1024}'
done
awk -v r="$total_rss" -v p="$total_pss" 'BEGIN {printf "%-28s %8.1f %8.1f\n", "whole tree", r/1024, p/1024}'
