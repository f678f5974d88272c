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
me=profile-hop
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
make_work
up=$(free_port); lp=$(free_port)
taskset -c 1 node "$root/bench/proxy/upstream.js" "$up" > /dev/null 2>&1 & pids+=($!)
start_control_plane "$work"
apply_bench_service
export WEFT_JOIN_TOKEN="$(weft token create --service bench 2>/dev/null)"
prof=(); [ "${PROFILE:-1}" = 1 ] && prof=(--cpu-prof --cpu-prof-dir="$work/prof")
# shellcheck disable=SC2086
WEFT_LOG_LEVEL=warn taskset -c 1 node "${prof[@]}" ${NODEFLAGS:-} "$root/bin/weft.js" sidecar --service bench --app-port "$up" --control-plane "$xds" \
  --inbound-port "$lp" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$work/sc.out" 2>&1 & sc=$!; pids+=($sc)
wait_http 20 "http://127.0.0.1:$lp/" || die "the sidecar did not answer 200 on :$lp (last answer '${http_last:-none}')"
taskset -c 0 wrk -t1 -c50 -d3s "http://127.0.0.1:$lp/" > /dev/null
t0=$(cpu_ticks "$sc")
taskset -c 0 wrk -t1 -c50 -d"${DUR:-10}s" "http://127.0.0.1:$lp${BPATH:-/}" > "$work/wrk.txt"
t1=$(cpu_ticks "$sc")
n=$(awk '/requests in/{print $1}' "$work/wrk.txt")
echo "req/s $(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")  cpu_us/req $(cpu_us_per_req "$t0" "$t1" "$n")  rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$sc/status")"
kill -INT "$sc"; wait "$sc" 2>/dev/null || true
if [ "${PROFILE:-1}" = 1 ]; then
  f="$out/sidecar-$(date -u +%Y%m%dT%H%M%SZ).cpuprofile"
  mv "$work"/prof/*.cpuprofile "$f"
  echo "profile: ${f#"$root"/} (a flame graph in Chrome DevTools or speedscope)"
  node "$root/bench/cpuprofile-top.mjs" "$f" "${TOP:-40}"
fi
