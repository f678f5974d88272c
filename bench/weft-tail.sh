#!/usr/bin/env bash
# Fixed-rate tail, pooled (issue 24's "p99 at 2,000 req/s <= 1.5x nginx's"): nginx and one Weft
# sidecar hop (and weft-base, the build at WEFT_BASE_ROOT, when set) in front of the same
# upstream, in the proxy table's layout (wrk on CPU 0; upstream and proxies on CPU 1) and with its
# fixed-rate load (wrk -t1 -c10 at LAT_RATE req/s, bench/proxy/wrk/paced.lua), each run after a
# short saturation run as in the table, but many short rounds with the targets alternating (ABBA)
# and every request of a target's rounds pooled into one latency distribution
# (bench/wrk-paced-hist.lua, bench/tail-pool.mjs). Why: a p99 is set by the slowest 1 % of
# requests; on this machine they come in clumps (a stall of the shared core, the upstream's GC),
# so one 5-second run's p99 moves 2-4x between runs of the same build, and the table's median of
# three such p99s taken minutes apart gave weft/nginx 1.38x-2.94x in five runs of one evening.
# Pooling ~80,000 requests per target, measured interleaved: 1.09x-1.69x in five runs
# (docs/benchmarks.md, section 2c).
# Prints and writes RESULTS_DIR/tail.txt and tail.json. A target whose run saw an error (non-2xx,
# socket errors, a process that died) is FAILED with the reason, never with figures, and the
# script then exits 1.
# Before the counted rounds, TAIL_WARMUP rounds of the same shape run and are not pooled (their
# wrk p99s are printed as "first rounds"): the proxy table warms each target up too (2 s), and
# without it round 1 measured first traffic rather than the steady state the aim is about: a
# fresh sidecar runs V8's interpreter and baseline compiler until its first busy second
# (sidecar/telemetry/busy-policy.ts) and then compiles its hot path on the pinned core, and the
# upstream is cold for whichever target runs first (nginx's round-1 p99 5.09 ms against ~1.1 in
# rounds 2-8 of one run). docs/benchmarks.md, section 2c.
# Knobs: LAT_RATE (2000) TAIL_ROUNDS (8) TAIL_WARMUP (1) TAIL_DURATION (5 s a run) TAIL_SATURATION (1 s; 0: none)
# RESULTS_DIR (bench/results) UPSTREAM_STATUS (unset; e.g. 503: the upstream answers only that, to
# see the rows fail) WEFT_BASE_ROOT (a weft-base row: bench/baseline.sh REF prints one)
# TAIL_TARGETS (default "nginx weft node-floor", plus weft-base with WEFT_BASE_ROOT; any of these).
# node-floor is bench/node-floor-proxy.mjs: a proxy built on the same Node parser binding and pool
# shape as Weft's with none of its features, the floor of what a request costs in Node's runtime.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAT_RATE=${LAT_RATE:-2000}; TAIL_ROUNDS=${TAIL_ROUNDS:-8}; TAIL_WARMUP=${TAIL_WARMUP:-1}; TAIL_DURATION=${TAIL_DURATION:-5}; TAIL_SATURATION=${TAIL_SATURATION:-1}
me=weft-tail
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
results_file tail
make_work 40 '*.out' '*/*.out'
targets=(${TAIL_TARGETS:-nginx weft${WEFT_BASE_ROOT:+ weft-base} node-floor})
for t in "${targets[@]}"; do
  case "$t" in
    nginx) need_bins nginx ;;
    weft | node-floor) ;;
    weft-base) [ -n "${WEFT_BASE_ROOT:-}" ] || die "weft-base needs WEFT_BASE_ROOT" ;;
    *) die "unknown target $t (nginx, weft, weft-base, node-floor)" ;;
  esac
done
need_bins wrk taskset curl
for v in LAT_RATE TAIL_ROUNDS TAIL_DURATION; do [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer"; done
[[ "$TAIL_SATURATION" =~ ^[0-9]+$ ]] || die "TAIL_SATURATION must be a whole number of seconds"
[[ "$TAIL_WARMUP" =~ ^[0-9]+$ ]] && [ "$TAIL_WARMUP" -le 5 ] || die "TAIL_WARMUP must be a whole number of rounds, at most 5"
[ "$TAIL_ROUNDS" -le 20 ] && [ "$TAIL_DURATION" -le 60 ] || die "keep TAIL_ROUNDS <= 20 and TAIL_DURATION <= 60"

up_port="$(free_port)"
if [ -n "${UPSTREAM_STATUS:-}" ]; then
  taskset -c 1 node "$root/bench/status-server.mjs" "$up_port" "$UPSTREAM_STATUS" > "$work/upstream.out" 2>&1 & up_pid=$!
else
  taskset -c 1 node "$root/bench/proxy/upstream.js" "$up_port" > "$work/upstream.out" 2>&1 & up_pid=$!
fi
pids+=("$up_pid")
until_ok 10 curl -s -o /dev/null "http://127.0.0.1:$up_port/" || true   # not fatal: every row then FAILs with the reason

declare -A PORT PIDS
if [[ " ${targets[*]} " == *" nginx "* ]]; then   # the proxy table's peer config
  PORT[nginx]="$(free_port)"
  start_nginx nginx.conf.in "$work/nginx" "${PORT[nginx]}" "$up_port"
fi
if [[ " ${targets[*]} " == *" node-floor "* ]]; then   # what the same request costs in Node's runtime alone
  PORT[node-floor]="$(free_port)"
  taskset -c 1 node "$root/bench/node-floor-proxy.mjs" "${PORT[node-floor]}" "$up_port" > "$work/node-floor.out" 2>&1 & PIDS[node-floor]=$!
  pids+=("${PIDS[node-floor]}")
fi
for t in "${targets[@]}"; do
  [ "$t" != nginx ] && [ "$t" != node-floor ] || continue
  if [ -z "${token:-}" ]; then
    # The sidecars: one control plane (not pinned with them, as in bench/weft-single-hop.sh), Service bench.
    start_control_plane "$work/cp" || die "the control plane did not start"
    apply_bench_service
    token="$(weft token create --service bench 2>/dev/null)"
  fi
  build="$root"; [ "$t" = weft-base ] && build="$WEFT_BASE_ROOT"
  PORT[$t]="$(free_port)"
  WEFT_JOIN_TOKEN="$token" WEFT_LOG_LEVEL=warn taskset -c 1 node "$build/bin/weft.js" sidecar --service bench --app-port "$up_port" \
    --control-plane "$xds" --inbound-port "${PORT[$t]}" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 \
    > "$work/$t.out" 2>&1 & PIDS[$t]=$!; pids+=("${PIDS[$t]}")
done
# Up when it answers what the upstream answers (200; UPSTREAM_STATUS when set, and the fixed-rate
# run then makes the row FAILED with the count of bad answers).
want=${UPSTREAM_STATUS:-200}
answers_want() { http_last="$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)"; [ "$http_last" = "$want" ]; }
for t in "${targets[@]}"; do
  until_ok 30 answers_want "http://127.0.0.1:${PORT[$t]}/" || fail "$t" "did not answer $want in 30 s (last answer '${http_last:-none}')"
done
[ -z "${nginx_pid:-}" ] || PIDS[nginx]="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"

: > "$work/hist"; : > "$work/rounds"; : > "$work/warm-rounds"
# one TARGET: the saturation run, then the fixed-rate run; appends its histogram and its round line
# to hist_out and rounds_out (the pooled files; for the warm-up, no histogram and its own rounds).
one() {
  local t=$1 url="http://127.0.0.1:${PORT[$1]}/" rc=0 v before after reqs
  # shellcheck disable=SC2086  # PIDS holds a list
  [ "$TAIL_SATURATION" = 0 ] || taskset -c 0 wrk -t1 -c50 -d"${TAIL_SATURATION}s" "$url" > /dev/null 2>&1 || true
  # shellcheck disable=SC2086
  before="$(cpu_ticks ${PIDS[$t]})"
  WEFT_PACED_LUA="$root/bench/proxy/wrk/paced.lua" WEFT_HIST_FILE="$work/hist.part" WEFT_HIST_LABEL="$t:$round" \
    taskset -c 0 wrk -t1 -c10 -d"${TAIL_DURATION}s" --latency -s "$root/bench/wrk-paced-hist.lua" "$url" -- "$LAT_RATE" 1 > "$work/lat.txt" 2>&1 || rc=$?
  # shellcheck disable=SC2086
  after="$(cpu_ticks ${PIDS[$t]})"
  # shellcheck disable=SC2086
  alive "$t" $up_pid ${PIDS[$t]} || { rm -f "$work/hist.part"; return 1; }
  v="$(node "$root/bench/wrk-verdict.mjs" --percentiles --exit "$rc" "$work/lat.txt")" || { fail "$t" "fixed-rate run: ${v#FAILED }"; rm -f "$work/hist.part"; return 1; }
  read -r _ reqs _ p50 p99 <<< "$v"
  cat "$work/hist.part" >> "$hist_out"; rm -f "$work/hist.part"
  echo "$t $round $p50 $p99 $(cpu_us_per_req "$before" "$after" "$reqs")" >> "$rounds_out"
}
echo "$me: ${#targets[@]} targets x ($TAIL_WARMUP warm-up + $TAIL_ROUNDS) rounds x (${TAIL_SATURATION} s saturation + ${TAIL_DURATION} s at $LAT_RATE req/s)" >&2
# Warm-up: same order each round as round 1's; a target that fails here is FAILED as in a counted round.
hist_out=/dev/null; rounds_out="$work/warm-rounds"
for w in $(seq "$TAIL_WARMUP"); do
  round="warm-up-$w"
  for t in "${targets[@]}"; do [ -n "${F[$t]:-}" ] || one "$t" || true; done
done
hist_out="$work/hist"; rounds_out="$work/rounds"
for round in $(seq "$TAIL_ROUNDS"); do
  order=("${targets[@]}")
  if [ $((round % 2)) = 0 ]; then order=(); for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done; fi
  for t in "${order[@]}"; do [ -n "${F[$t]:-}" ] || one "$t" || true; done
done
round=''
for t in "${targets[@]}"; do [ -z "${F[$t]:-}" ] || printf '%s\t%s\n' "$t" "${F[$t]}"; done > "$work/failed"
node "$root/bench/tail-pool.mjs" "$work/hist" "$work/rounds" "$work/failed" "$out" \
  "{\"latRate\": $LAT_RATE, \"conns\": 10, \"rounds\": $TAIL_ROUNDS, \"warmupRounds\": $TAIL_WARMUP, \"durationS\": $TAIL_DURATION, \"saturationS\": $TAIL_SATURATION}"
if [ -s "$work/warm-rounds" ]; then   # what the warm-up rounds saw (wrk's own p99 of each run): first traffic, not pooled
  awk -v order="${targets[*]}" '{ p[$1] = p[$1] (p[$1] == "" ? "" : " ") $4 }
    END { printf "first rounds (warm-up, not pooled), wrk p99 ms:"; n = split(order, o, " "); for (i = 1; i <= n; i++) if (o[i] in p) printf "  %s %s", o[i], p[o[i]]; print "" }' "$work/warm-rounds" | tee -a "$out"
fi
exit_if_failed
