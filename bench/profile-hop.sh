#!/usr/bin/env bash
# Profiles one sidecar hop under load: wrk -t1 -c50 -> sidecar inbound listener -> benchmark
# upstream, configured by a real control plane. The sidecar runs with --cpu-prof; at the end this
# prints req/s, the sidecar's CPU per request (user+sys / requests) and RSS, then the hottest
# functions by self time (bench/cpuprofile-top.mjs). The .cpuprofile it leaves is a flame graph in
# Chrome DevTools (Performance > Load profile) or https://www.speedscope.app.
# PROTO=grpc profiles the gRPC hop of `make bench`'s grpc scenario instead: h2load -> sidecar
# (Service port protocol grpc, h2c both sides) -> bench/grpc-upstream.mjs, unary calls; LOAD picks
# the connection shape (m1: -c50 -m1, the default; mux: -c4 -m32; stream: 100 messages per call).
# The run is refused (exit 1) when h2load saw failures or the call does not return grpc-status 0.
# Knobs: DUR (10 s), BPATH (/ or /16k), PROTO (http or grpc), LOAD (grpc: m1, mux, stream),
# SIDECAR_OUT (a file to keep the sidecar's stdout+stderr in), PROFILE_DIR (bench/results/profile),
# NODEFLAGS (more node flags for the sidecar; PROFILE=0 to
# measure without the profiler), TOP (40).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${PROFILE_DIR:-$root/bench/results/profile}"; mkdir -p "$out"
me=profile-hop
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
make_work
proto=${PROTO:-http}
[ "$proto" = http ] || [ "$proto" = grpc ] || die "PROTO must be http or grpc, not '$proto'"
up=$(free_port); lp=$(free_port)
if [ "$proto" = grpc ]; then
  need_bins h2load
  taskset -c 1 node "$root/bench/grpc-upstream.mjs" 0 > "$work/upstream.out" 2>&1 & pids+=($!)
  until_ok 10 grep -qs listening "$work/upstream.out" || die "the grpc-js upstream did not start"
  up="$(awk '/listening/{print $2}' "$work/upstream.out")"
else
  taskset -c 1 node "$root/bench/proxy/upstream.js" "$up" > /dev/null 2>&1 & pids+=($!)
fi
start_control_plane "$work"
if [ "$proto" = grpc ]; then
  printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: grpc, port: 9090, protocol: grpc }]\n' | weft apply -f - > /dev/null
else
  apply_bench_service
fi
export WEFT_JOIN_TOKEN="$(weft token create --service bench 2>/dev/null)"
prof=(); [ "${PROFILE:-1}" = 1 ] && prof=(--cpu-prof --cpu-prof-dir="$work/prof")
# shellcheck disable=SC2086
WEFT_LOG_LEVEL=warn taskset -c 1 node "${prof[@]}" ${NODEFLAGS:-} "$root/bin/weft.js" sidecar --service bench --app-port "$up" --control-plane "$xds" \
  --inbound-port "$lp" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$work/sc.out" 2>&1 & sc=$!; pids+=($sc)
if [ "$proto" = grpc ]; then
  method=Unary; load=(-c50 -m1)
  case "${LOAD:-m1}" in m1) ;; mux) load=(-c4 -m32) ;; stream) method=Stream ;; *) die "LOAD must be m1, mux or stream, not '$LOAD'" ;; esac
  printf '\x00\x00\x00\x00\x00' > "$work/empty.grpc"   # one gRPC frame, uncompressed, empty
  # grpc_ok: one grpc-js call through the sidecar returns grpc-status 0 (h2load counts any HTTP 200 as a success).
  grpc_ok() { [ "$(timeout 10 taskset -c 0 node "$root/bench/grpc-upstream.mjs" --call "127.0.0.1:$lp" "$method" 2>/dev/null | awk '/grpc-status/{print $2}' | tail -1)" = 0 ]; }
  until_ok 20 grpc_ok || die "no grpc-status 0 through the sidecar on :$lp"
  h2() { taskset -c 0 h2load -t1 "${load[@]}" -D "$1" -d "$work/empty.grpc" -H 'content-type: application/grpc' -H 'te: trailers' "http://127.0.0.1:$lp/weft.bench.Echo/$method"; }
  h2 3 > /dev/null
  t0=$(cpu_ticks "$sc")
  rc=0; h2 "${DUR:-10}" > "$work/load.txt" 2>&1 || rc=$?
  t1=$(cpu_ticks "$sc")
  node "$root/bench/wrk-verdict.mjs" --exit "$rc" --h2load "$work/load.txt" > /dev/null || die "h2load through the sidecar failed: $(tail -5 "$work/load.txt" | tr '\n' ' ')"
  grpc_ok || die "the call stopped returning grpc-status 0 during the run"
  n=$(awk '/^requests:/{print $8}' "$work/load.txt")
  unit=call; [ "$method" = Stream ] && { n=$((n * 100)); unit=message; }
  echo "calls/s $(awk '/^finished in/{print $4}' "$work/load.txt" | tr -d ',')  cpu_us/$unit $(cpu_us_per_req "$t0" "$t1" "$n")  rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$sc/status")"
else
  wait_http 20 "http://127.0.0.1:$lp/" || die "the sidecar did not answer 200 on :$lp (last answer '${http_last:-none}')"
  taskset -c 0 wrk -t1 -c50 -d3s "http://127.0.0.1:$lp/" > /dev/null
  t0=$(cpu_ticks "$sc")
  taskset -c 0 wrk -t1 -c50 -d"${DUR:-10}s" "http://127.0.0.1:$lp${BPATH:-/}" > "$work/wrk.txt"
  t1=$(cpu_ticks "$sc")
  n=$(awk '/requests in/{print $1}' "$work/wrk.txt")
  echo "req/s $(awk '/Requests\/sec/{print $2}' "$work/wrk.txt")  cpu_us/req $(cpu_us_per_req "$t0" "$t1" "$n")  rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$sc/status")"
fi
kill -INT "$sc"; wait "$sc" 2>/dev/null || true
# What the sidecar printed (a timeline from bench/timeline.mjs, --trace-* output), kept on request.
if [ -n "${SIDECAR_OUT:-}" ]; then cp "$work/sc.out" "$SIDECAR_OUT"; echo "sidecar output: $SIDECAR_OUT"; fi
if [ "${PROFILE:-1}" = 1 ]; then
  f="$out/sidecar-$(date -u +%Y%m%dT%H%M%SZ).cpuprofile"
  mv "$work"/prof/*.cpuprofile "$f"
  echo "profile: ${f#"$root"/} (a flame graph in Chrome DevTools or speedscope)"
  node "$root/bench/cpuprofile-top.mjs" "$f" "${TOP:-40}"
fi
