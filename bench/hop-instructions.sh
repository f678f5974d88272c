#!/usr/bin/env bash
# Instructions per request through one sidecar hop, counted by valgrind's callgrind: the same
# count for the same binary and inputs whatever else the machine does, so it compares two builds
# (this one and BASELINE_REF's, bench/baseline.sh) where CPU time on a shared machine cannot.
# The sidecar runs under callgrind with collection off; after WARM requests (the JIT settles),
# collection is on for exactly N requests (REQS, 10 at a time, keep-alive).
#   bash bench/hop-instructions.sh [BASELINE_REF]   (knobs: WARM=10000 REQS=5000; WEFT_ROOT: measure that build as "weft")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WARM=${WARM:-10000}; REQS=${REQS:-5000}
command -v valgrind >/dev/null || { echo "hop-instructions.sh: valgrind missing (apt-get install valgrind)" >&2; exit 2; }
me=hop-instructions.sh
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
make_work

# Exactly N keep-alive requests, 10 at a time; fails on any non-200.
cat > "$work/load.mjs" <<'JS'
import http from 'node:http';
const [port, n] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
let next = 0, bad = 0;
const one = () => new Promise((res) => http.get({ host: '127.0.0.1', port, path: '/', agent, headers: { host: 'bench' } }, (r) => { if (r.statusCode !== 200) bad++; r.resume(); r.on('end', res); }).on('error', () => { bad++; res(); }));
await Promise.all(Array.from({ length: 10 }, async () => { while (next < n) { next++; await one(); } }));
agent.destroy();
if (bad) { console.error(`load.mjs: ${bad} of ${n} requests failed`); process.exit(1); }
JS

measure() { # label root upstream-port port -> prints "label instructions"
  # weft_root: the build that this sidecar, and lib.sh's control plane and weft CLI, run.
  local label=$1 weft_root=$2 up=$3 port=$4 cp_pid xds admin cp_data token
  # measure runs in $(...), where errexit is off: a step that fails is reported and the run goes
  # on (the count comes out 0) rather than ending make bench, as before lib.sh.
  start_control_plane "$work/$label"
  apply_bench_service
  token="$(weft token create --service bench 2>/dev/null)"
  # The sidecar process itself under callgrind (bin/weft.js starts it in this same node process).
  WEFT_JOIN_TOKEN="$token" WEFT_LOG_LEVEL=warn valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file \
    --callgrind-out-file="$work/$label.cg" node "$weft_root/bin/weft.js" sidecar --service bench --app-port "$up" --control-plane "$xds" \
    --inbound-port "$port" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$work/$label-sc.out" 2>&1 &
  local sc=$!; pids+=("$sc")
  until_ok --every 0.5 300 answers_200 "http://127.0.0.1:$port/" -H 'host: bench' \
    || echo "$me: $label: the sidecar under callgrind did not answer 200 in 300 s (last answer '${http_last:-none}')" >&2
  node "$work/load.mjs" "$port" "$WARM"
  local vg=$sc
  callgrind_control -i on "$vg" > /dev/null
  node "$work/load.mjs" "$port" "$REQS"
  callgrind_control -i off "$vg" > /dev/null
  callgrind_control -d "$vg" > /dev/null
  kill "$sc" 2>/dev/null || true; kill "$cp_pid" 2>/dev/null || true
  sleep 1
  local total compile f
  total="$(cat "$work/$label".cg* 2>/dev/null | awk '/^totals:/ { s += $2 } END { print s + 0 }')"
  # TurboFan compile jobs that happen to run inside the window: V8 optimizes a function when its
  # counters say so, which depends on timing, so a run may or may not hold a compile of 10-30 M
  # instructions (a few k per request). Counted, printed, and left out of the ratio.
  compile=0
  for f in "$work/$label".cg*; do
    [ -f "$f" ] || continue
    compile=$((compile + $(callgrind_annotate --inclusive=yes "$f" 2>/dev/null \
      | awk '/OptimizingCompileDispatcher::CompileTask::RunInternal/ { gsub(",", "", $1); s += $1 } END { print s + 0 }')))
  done
  echo "$label $total $compile"
}

( setsid node "$root/bench/proxy/upstream.js" 19200 > /dev/null 2>&1 & echo $! > "$work/up.pid" ); pids+=("$(cat "$work/up.pid")")
sleep 0.5
say() { echo "$1" | awk -v n="$REQS" '{ printf "%s %s instructions over %s requests (%s of them in TurboFan compile jobs, left out below)\n", $1, $2, n, $3 }'; }
now="$(measure weft "${WEFT_ROOT:-$root}" 19200 19210)"
say "$now"
if [ -n "${1:-}" ]; then
  base_root="$(bash "$root/bench/baseline.sh" "$1")"
  base="$(measure weft-base "$base_root" 19200 19211)"
  say "$base"
  node -e 'const [a, ac, b, bc, n] = process.argv.slice(1).map(Number); console.log(`instructions per request: weft ${((a - ac) / n).toFixed(0)}, weft-base ${((b - bc) / n).toFixed(0)}, ratio ${((a - ac) / (b - bc)).toFixed(4)}`)' \
    $(echo "$now" | awk '{print $2, $3}') $(echo "$base" | awk '{print $2, $3}') "$REQS"
fi
