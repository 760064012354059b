# shellcheck shell=bash
# Sourced by scripts/test.sh: starts kamailio (registrar + proxy with digest auth, config in
# tests/sip/kamailio.cfg) on a free loopback port and exports RINGDESK_KAMAILIO=127.0.0.1:PORT
# and RINGDESK_KAMCMD (kamcmd's control socket). Proven configs: ../shared/docs/sip-peers.md.

SIP_PIDS=()

kamailio_start() {
  local rig port
  rig=$(mktemp -d /tmp/ringdesk-kam.XXXXXX)
  mkdir -p "$rig/run"
  # One port free for both UDP and TCP.
  port=$(python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
')
  sed -e "s|RIG_DIR|$rig|g" -e "s|PORT|$port|g" "$ROOT/tests/sip/kamailio.cfg" >"$rig/kamailio.cfg"
  kamailio -c -f "$rig/kamailio.cfg" >"$rig/check.log" 2>&1 || { cat "$rig/check.log" >&2; return 1; }
  kamailio -DD -E -f "$rig/kamailio.cfg" -P "$rig/run/kamailio.pid" -m 64 -M 8 >"$ROOT/target/kamailio.log" 2>&1 &
  SIP_PIDS+=($!)
  local n=0
  until [ -S "$rig/run/kamailio_ctl" ] && kamcmd -s "unix:$rig/run/kamailio_ctl" core.uptime >/dev/null 2>&1; do
    if [ $n -ge 100 ]; then
      echo "kamailio did not start" >&2
      tail -20 "$ROOT/target/kamailio.log" >&2
      return 1
    fi
    sleep 0.1
    n=$((n + 1))
  done
  export RINGDESK_KAMAILIO="127.0.0.1:$port" RINGDESK_KAMCMD="unix:$rig/run/kamailio_ctl"
  KAMAILIO_RIG=$rig
  echo "kamailio ready on $RINGDESK_KAMAILIO"
}

sip_peers_stop() {
  local pid
  for pid in "${SIP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${KAMAILIO_RIG:-}" ] && rm -rf "$KAMAILIO_RIG"
  return 0
}
