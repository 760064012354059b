# shellcheck shell=bash
# Sourced by the test and demo scripts: starts a private headless desktop session —
# X display, session bus, unlocked Secret Service, notification daemon, null audio sink —
# exports its environment, and stops everything it started on exit.
# Facts behind each step: ../shared/docs/platform.md.

HEADLESS_PIDS=()
HEADLESS_DIR=""

headless_stop() {
  local pid
  for pid in "${HEADLESS_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  [ -n "${PULSE_STARTED:-}" ] && pulseaudio --kill 2>/dev/null || true
  [ -n "$HEADLESS_DIR" ] && { sleep 0.2; rm -rf "$HEADLESS_DIR" 2>/dev/null; }
  return 0
}

headless_start() {
  HEADLESS_DIR=$(mktemp -d /tmp/ringdesk-session.XXXXXX)
  chmod 700 "$HEADLESS_DIR"

  # Display: let Xvfb pick a free number rather than assume :99 is ours.
  exec 3<> "$HEADLESS_DIR/display"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$HEADLESS_DIR/xvfb.log" 2>&1 &
  HEADLESS_PIDS+=($!)
  local n=0
  while [ ! -s "$HEADLESS_DIR/display" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  DISPLAY=":$(head -n1 "$HEADLESS_DIR/display")"
  export DISPLAY
  exec 3>&-

  # A private runtime dir and session bus, so the keyring and notifications are ours alone.
  export XDG_RUNTIME_DIR="$HEADLESS_DIR/runtime"
  mkdir -m 700 -p "$XDG_RUNTIME_DIR"
  DBUS_SESSION_BUS_ADDRESS=$(dbus-daemon --session --fork --print-address=1 --print-pid=4 \
    --address="unix:path=$XDG_RUNTIME_DIR/bus" 4>"$HEADLESS_DIR/dbus.pid")
  export DBUS_SESSION_BUS_ADDRESS
  HEADLESS_PIDS+=("$(cat "$HEADLESS_DIR/dbus.pid")")

  # Secret Service: a login keyring created and unlocked with a throwaway password.
  export XDG_DATA_HOME="$HEADLESS_DIR/data" XDG_CONFIG_HOME="$HEADLESS_DIR/config"
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME"
  local keyring_env
  keyring_env=$(printf 'ringdesk-test' | gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)
  while IFS= read -r line; do
    case "$line" in
      GNOME_KEYRING_CONTROL=*) export "${line?}" ;;
      *PID=*) HEADLESS_PIDS+=("${line#*=}") ;;
    esac
  done <<<"$keyring_env"
  # gnome-keyring may fork; find it on our bus if it did not report a pid.
  pgrep -f "gnome-keyring-daemon.*--components=secrets" >/dev/null && \
    HEADLESS_PIDS+=($(pgrep -n -f "gnome-keyring-daemon.*--components=secrets"))

  # Notifications: dunst on our display and bus (bus activation would start it without DISPLAY).
  dunst >"$HEADLESS_DIR/dunst.log" 2>&1 &
  HEADLESS_PIDS+=($!)

  # Audio: a PulseAudio null sink that cpal opens and runs at real pace.
  if command -v pulseaudio >/dev/null; then
    if pulseaudio -D --exit-idle-time=-1 --log-target=file:"$HEADLESS_DIR/pulse.log" 2>/dev/null; then
      PULSE_STARTED=1
      pactl load-module module-null-sink sink_name=nullsink >/dev/null 2>&1 || true
      pactl set-default-sink nullsink >/dev/null 2>&1 || true
      pactl set-default-source nullsink.monitor >/dev/null 2>&1 || true
    fi
  fi
  echo "headless session: DISPLAY=$DISPLAY bus=$DBUS_SESSION_BUS_ADDRESS"
}
