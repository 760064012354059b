# shellcheck shell=bash
# Sourced by scripts/test.sh: starts kamailio (registrar + proxy with digest auth, config in
# tests/sip/kamailio.cfg) on free loopback ports and exports RINGDESK_KAMAILIO=127.0.0.1:PORT
# (UDP and TCP), RINGDESK_KAMAILIO_TLS=127.0.0.1:TLS_PORT with RINGDESK_KAMAILIO_CA (the test CA
# that signed its certificate) and RINGDESK_KAMCMD (kamcmd's control socket).
# Proven configs: ../shared/docs/sip-peers.md.

SIP_PIDS=()

# A CA and a server certificate for 127.0.0.1 signed by it (rustls refuses a self-signed leaf).
make_test_ca() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=Ringdesk test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
}

free_port() {
  python3 -c '
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
'
}

kamailio_start() {
  local rig port tls_port
  rig=$(mktemp -d /tmp/ringdesk-kam.XXXXXX)
  mkdir -p "$rig/run"
  # One port free for both UDP and TCP, another for TLS.
  port=$(free_port)
  tls_port=$(free_port)
  while [ "$tls_port" = "$port" ]; do tls_port=$(free_port); done
  make_test_ca "$rig/tls"
  sed -e "s|RIG_DIR|$rig|g" "$ROOT/tests/sip/tls.cfg" >"$rig/tls.cfg"
  sed -e "s|RIG_DIR|$rig|g" -e "s|TLS_PORT|$tls_port|g" -e "s|PORT|$port|g" \
    "$ROOT/tests/sip/kamailio.cfg" >"$rig/kamailio.cfg"
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
  export RINGDESK_KAMAILIO_TLS="127.0.0.1:$tls_port" RINGDESK_KAMAILIO_CA="$rig/tls/ca.crt"
  KAMAILIO_RIG=$rig
  echo "kamailio ready on $RINGDESK_KAMAILIO"
}

sip_peers_stop() {
  local pid
  for pid in "${SIP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "${KAMAILIO_RIG:-}" ] && rm -rf "$KAMAILIO_RIG"
  return 0
}
