#!/usr/bin/env bash
# One Weft sidecar as a single-hop proxy for bench/proxy/run.sh: requests to LISTEN_PORT go through
# the sidecar's inbound listener (the same router, cluster and pool code as every hop) to the
# benchmark upstream, configured by a real control plane over xDS. Started by run.sh with
# UPSTREAM_PORT and LISTEN_PORT set. The control plane runs detached (not a child of the sidecar,
# so the sidecar's CPU and RSS are measured alone) and is stopped when this script exits.
# WEFT_ROOT: run the Weft build found there instead (bench/baseline.sh makes one for a git ref).
set -euo pipefail
root="${WEFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
me=weft-single-hop
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
make_work
trap 'exit 0' TERM INT
start_control_plane "$work"
apply_bench_service
export WEFT_JOIN_TOKEN="$(weft token create --service bench 2>/dev/null)"
WEFT_LOG_LEVEL=warn node "$root/bin/weft.js" sidecar --service bench --app-port "$UPSTREAM_PORT" --control-plane "$xds" \
  --inbound-port "$LISTEN_PORT" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 &
wait $!
