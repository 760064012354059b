# shellcheck shell=bash
# Sourced by scripts/test.sh: serves each provider OpenAPI spec from ../shared/provider-specs with
# Prism on a free loopback port and exports its address as RINGDESK_PRISM_<NAME>.
# Prism serves a spec's paths without the spec's server base path (see providers.md §7).

MOCK_PIDS=()
PRISM="$ROOT/tests/node_modules/.bin/prism"
# Tests that start a Prism of their own (a contract proxy) find it here.
export RINGDESK_PRISM_BIN="$PRISM"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# prism_start NAME SPEC_PATH [PRISM OPTIONS…]
prism_start() {
  local name=$1 spec=$2 port log
  shift 2
  port=$(free_port)
  log="$ROOT/target/mocks/prism-$name.log"
  mkdir -p "$ROOT/target/mocks"
  "$PRISM" mock -h 127.0.0.1 -p "$port" "$@" "$spec" >"$log" 2>&1 &
  MOCK_PIDS+=($!)
  export "RINGDESK_PRISM_$name=http://127.0.0.1:$port"
}

prism_wait_all() {
  local name log n
  for log in "$ROOT"/target/mocks/prism-*.log; do
    n=0
    until grep -q "Prism is listening" "$log"; do
      if [ $n -ge 600 ]; then
        echo "Prism did not start: $log" >&2
        tail -20 "$log" >&2
        return 1
      fi
      sleep 0.1
      n=$((n + 1))
    done
  done
  echo "spec mocks ready: $(env | grep -o '^RINGDESK_PRISM_[A-Z0-9_]*' | tr '\n' ' ')"
}

mocks_start() {
  local specs="$SHARED/provider-specs"
  rm -f "$ROOT"/target/mocks/prism-*.log
  prism_start TELNYX "$specs/telnyx/spec3.yml"
  prism_start TWILIO "$specs/twilio/twilio_api_v2010.json"
  prism_start VONAGE_ACCOUNT "$specs/vonage/account.yml"
  prism_start VONAGE_APPLICATIONS "$specs/vonage/application.v2.yml"
  prism_start VONAGE_VOICE "$specs/vonage/voice.yml"
  prism_start VONAGE_NUMBERS "$specs/vonage/numbers.yml"
  # HubSpot's specs give `example: null` everywhere: answers are generated from the schemas
  # instead (dynamic mode, seeded so runs repeat).
  prism_start HUBSPOT_CONTACTS "$SHARED/crm-specs/hubspot/Contacts/v3/contacts.json" -d --seed 7
  prism_start HUBSPOT_CALLS "$SHARED/crm-specs/hubspot/Calls/v3/calls.json" -d --seed 7
  # Ringdesk's own CRM contract (no examples: generated answers, seeded).
  prism_start CRM_GENERIC "$ROOT/docs/crm-generic-openapi.yaml" -d --seed 7
  # Pipedrive's specs carry examples: static answers.
  prism_start PIPEDRIVE_V1 "$SHARED/crm-specs/pipedrive/upstream/v1.yaml"
  prism_start PIPEDRIVE_V2 "$SHARED/crm-specs/pipedrive/upstream/v2.yaml"
  prism_wait_all
}

mocks_stop() {
  local pid
  for pid in "${MOCK_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}
