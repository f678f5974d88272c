#!/usr/bin/env bash
# Profiles one sidecar hop under load: wrk -t1 -c50 -> sidecar inbound listener -> benchmark
# upstream, configured by a real control plane. The sidecar runs with --cpu-prof; at the end this
# prints req/s, the sidecar's CPU per request (user+sys / requests) and RSS, then the hottest
# functions by self time (bench/cpuprofile-top.mjs). The .cpuprofile it leaves is a flame graph in
# Chrome DevTools (Performance > Load profile) or https://www.speedscope.app.
# Knobs: DUR (10 s), BPATH (/ or /16k), PROFILE_DIR (bench/results/profile), NODEFLAGS (more
# node flags for the sidecar; PROFILE=0 to measure without the profiler), TOP (40).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${PROFILE_DIR:-$root/bench/results/profile}"; mkdir -p "$out"
work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$work/cp.pid" ] && kill "$(cat "$work/cp.pid")" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
up=$(free_port); lp=$(free_port)
taskset -c 1 node "$root/bench/proxy/upstream.js" "$up" > /dev/null 2>&1 & pids+=($!)
( setsid node "$root/bin/weft.js" control-plane --data-dir "$work/data" --xds-address 127.0.0.1:0 --admin-address 127.0.0.1:0 --otlp-address off --log-level warn > "$work/cp.out" 2>&1 & echo $! > "$work/cp.pid" )
for _ in $(seq 100); do grep -q ready "$work/cp.out" 2>/dev/null && break; sleep 0.1; done
xds="$(grep -o 'xds=[0-9.:]*' "$work/cp.out" | cut -d= -f2)"; admin="$(grep -o 'admin=[0-9.:]*' "$work/cp.out" | cut -d= -f2)"
printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' \
  | WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$work/data" node "$root/bin/weft.js" apply -f - > /dev/null
export WEFT_JOIN_TOKEN="$(WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$work/data" node "$root/bin/weft.js" token create --service bench 2>/dev/null)"
prof=(); [ "${PROFILE:-1}" = 1 ] && prof=(--cpu-prof --cpu-prof-dir="$work/prof")
# shellcheck disable=SC2086
WEFT_LOG_LEVEL=warn taskset -c 1 node "${prof[@]}" ${NODEFLAGS:-} "$root/bin/weft.js" sidecar --service bench --app-port "$up" --control-plane "$xds" \
  --inbound-port "$lp" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$work/sc.out" 2>&1 & sc=$!; pids+=($sc)
for _ in $(seq 200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lp/")" = 200 ] && break; sleep 0.1; done
taskset -c 0 wrk -t1 -c50 -d3s "http://127.0.0.1:$lp/" > /dev/null
t0=$(awk '{print $14+$15}' "/proc/$sc/stat")
taskset -c 0 wrk -t1 -c50 -d"${DUR:-10}s" "http://127.0.0.1:$lp${BPATH:-/}" > "$work/wrk.txt"
t1=$(awk '{print $14+$15}' "/proc/$sc/stat")
n=$(awk '/requests in/{print $1}' "$work/wrk.txt")
echo "req/s $(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")  cpu_us/req $(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN{printf "%.1f", (b-a)/100*1e6/n}')  rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$sc/status")"
kill -INT "$sc"; wait "$sc" 2>/dev/null || true
if [ "${PROFILE:-1}" = 1 ]; then
  f="$out/sidecar-$(date -u +%Y%m%dT%H%M%SZ).cpuprofile"
  mv "$work"/prof/*.cpuprofile "$f"
  echo "profile: ${f#"$root"/} (a flame graph in Chrome DevTools or speedscope)"
  node "$root/bench/cpuprofile-top.mjs" "$f" "${TOP:-40}"
fi
