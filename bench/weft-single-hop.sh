#!/usr/bin/env bash
# One Weft sidecar as a single-hop proxy for bench/proxy/run.sh: requests to LISTEN_PORT go through
# the sidecar's inbound listener (the same router, cluster and pool code as every hop) to the
# benchmark upstream, configured by a real control plane over xDS. Started by run.sh with
# UPSTREAM_PORT and LISTEN_PORT set. The control plane runs detached (not a child of the sidecar,
# so the sidecar's CPU and RSS are measured alone) and is stopped when this script exits.
# WEFT_ROOT: run the Weft build found there instead (bench/baseline.sh makes one for a git ref).
set -euo pipefail
root="${WEFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
work="$(mktemp -d)"
cleanup() { [ -f "$work/cp.pid" ] && kill "$(cat "$work/cp.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 0' TERM INT
( setsid node "$root/bin/weft.js" control-plane --data-dir "$work/data" --xds-address 127.0.0.1:0 --admin-address 127.0.0.1:0 --otlp-address off --log-level warn > "$work/cp.out" 2>&1 & echo $! > "$work/cp.pid" )
for _ in $(seq 100); do grep -q ready "$work/cp.out" 2>/dev/null && break; sleep 0.1; done
xds="$(grep -o 'xds=[0-9.:]*' "$work/cp.out" | cut -d= -f2)"
admin="$(grep -o 'admin=[0-9.:]*' "$work/cp.out" | cut -d= -f2)"
printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' \
  | WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$work/data" node "$root/bin/weft.js" apply -f - > /dev/null
export WEFT_JOIN_TOKEN="$(WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$work/data" node "$root/bin/weft.js" token create --service bench 2>/dev/null)"
WEFT_LOG_LEVEL=warn node "$root/bin/weft.js" sidecar --service bench --app-port "$UPSTREAM_PORT" --control-plane "$xds" \
  --inbound-port "$LISTEN_PORT" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 &
wait $!
