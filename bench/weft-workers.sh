#!/usr/bin/env bash
# Edge-gateway scaling with `weft sidecar --workers N` (issue 7, scenario g): saturated req/s and
# CPU per request of one sidecar used as a plaintext HTTP/1.1 gateway in front of the benchmark
# upstream (bench/proxy/upstream.js, 64-byte answers), configured by a real control plane.
#   wrk -t1 -c50 -> sidecar inbound listener (--workers 1 | 2) -> upstream
# Rows: --workers 1; --workers 2 with the cluster scheduler the primary uses by default (rr: the
# primary accepts and hands connections round-robin); --workers 2 with NODE_CLUSTER_SCHED_POLICY=none
# (every worker accepts; the kernel picks). CPU = user+sys ticks of the primary and every worker
# over the run / requests completed; "scale" = req/s against the --workers 1 row.
# Honest caveat: this machine has 2 cores. wrk is pinned to CPU 0 (LOADGEN_CPUS), the sidecar
# processes and the upstream may use both (SERVER_CPUS=0,1), so with 2 workers the load generator,
# the upstream and both workers share 2 cores and the ratio understates what 2 dedicated cores give.
# Knobs: DURATION (8 s per row, after a 2 s warm-up) ROWS ("1 2 2-none") CONNS (50) PORT (19301)
#   LOADGEN_CPUS (0) SERVER_CPUS (0,1). Takes about 45 s.
# A row whose run saw any error (non-2xx, socket errors, no percentiles: bench/wrk-verdict.mjs; a
# sidecar that did not answer 200 or died during the run) is printed as FAILED with the reason,
# never with numbers, and the script exits 1 after writing both files.
# Writes bench/results/workers.txt (the table) and workers.json (the same figures).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rm -f "$root/bench/results/workers.txt" "$root/bench/results/workers.json"   # never read an earlier run's as this one's
DURATION=${DURATION:-8}; ROWS=${ROWS:-"1 2 2-none"}; CONNS=${CONNS:-50}; PORT=${PORT:-19301}
LOADGEN_CPUS=${LOADGEN_CPUS:-0}; SERVER_CPUS=${SERVER_CPUS:-0,1}
me=weft-workers
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
make_work 20 '*.out'
need_bins wrk taskset curl
tree() { echo "$1" $(pgrep -P "$1" || true); } # the primary and its workers

start_control_plane "$work" --cpus "$SERVER_CPUS"
apply_bench_service
token="$(weft token create --service bench 2>/dev/null)"
taskset -c "$SERVER_CPUS" node "$root/bench/proxy/upstream.js" 0 > "$work/up.out" 2>&1 & up_pid=$!; pids+=($up_pid)
# up_port_known: sets up_port to the port the upstream listens on, once it does.
up_port_known() { up_port="$(ss -ltnpH 2>/dev/null | awk -v p="pid=$up_pid," 'index($0, p) {split($4, a, ":"); print a[length(a)]; exit}')"; [ -n "$up_port" ]; }
until_ok 5 up_port_known || die "upstream did not start"

declare -A R   # R[row]: the row's figures; F[row] (lib.sh): why it FAILED (one run per row: no round is set)
run_row() { # row -> sets R[row]="workers sched rps cpu_sidecar_us cpu_upstream_us p99", or records the row as FAILED
  local row=$1 n=${1%%-*} sched=rr
  [ "$row" = "${row%-none}" ] || sched=none
  [ "$n" = 1 ] && sched=-
  NODE_CLUSTER_SCHED_POLICY=$([ "$sched" = none ] && echo none || echo rr) WEFT_JOIN_TOKEN="$token" WEFT_LOG_LEVEL=warn \
    taskset -c "$SERVER_CPUS" node "$root/bin/weft.js" sidecar --service bench --app-port "$up_port" --control-plane "$xds" \
    --inbound-port "$PORT" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 --drain-delay 0ms --drain-timeout 2s \
    --workers "$n" > "$work/sc-$row.out" 2>&1 & local sc=$!; pids+=($sc)
  local url="http://127.0.0.1:$PORT/"
  wait_http 20 "$url" -H 'Host: bench' \
    || { fail "$row" "the sidecar did not come up (last answer '${http_last:-none}', want 200)"; kill -TERM "$sc" 2>/dev/null; wait "$sc" 2>/dev/null || true; return 1; }
  taskset -c "$LOADGEN_CPUS" wrk -t1 -c"$CONNS" -d2s -H 'Host: bench' "$url" > /dev/null 2>&1 # warm-up (JIT, pools)
  local procs; procs="$(tree "$sc")"
  local b_sc b_up; b_sc=$(cpu_ticks $procs); b_up=$(cpu_ticks "$up_pid")
  local rc=0; taskset -c "$LOADGEN_CPUS" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -H 'Host: bench' "$url" > "$work/wrk-$row.txt" 2>&1 || rc=$?
  # shellcheck disable=SC2086  # procs: the primary and its workers, one word each
  alive "$row" $procs "$up_pid" "$cp_pid" || { kill -TERM "$sc" 2>/dev/null; wait "$sc" 2>/dev/null || true; return 1; }   # every process on the path lived through the run
  local a_sc a_up; a_sc=$(cpu_ticks $procs); a_up=$(cpu_ticks "$up_pid")
  kill -TERM "$sc"; wait "$sc" 2>/dev/null || true
  local v reqs p99
  v="$(node "$root/bench/wrk-verdict.mjs" --percentiles --exit "$rc" "$work/wrk-$row.txt")" || { fail "$row" "${v#FAILED }"; return 1; }
  read -r _ reqs _ _ _ <<< "$v"
  p99=$(awk '$1=="99%"{print $2}' "$work/wrk-$row.txt")
  R[$row]="$(awk -v n="$n" -v s="$sched" -v r="$reqs" -v d="$DURATION" -v sc="$((a_sc - b_sc))" -v up="$((a_up - b_up))" -v hz="$hz" -v p="$p99" \
    'BEGIN{printf "%s %s %d %.1f %.1f %s\n", n, s, r/d, sc/hz*1e6/r, up/hz*1e6/r, p}')"
}

for row in $ROWS; do run_row "$row" || true; done
base=$(echo "${R[${ROWS%% *}]:-}" | awk '{print $3}')
out="$root/bench/results/workers.txt"
mkdir -p "$root/bench/results"
{
  echo "Edge gateway scaling: wrk -t1 -c$CONNS (CPU $LOADGEN_CPUS) -> weft sidecar inbound (CPUs $SERVER_CPUS) -> upstream (CPUs $SERVER_CPUS), ${DURATION}s per row, $(nproc) cores"
  echo "sched: rr = primary accepts and hands connections round-robin (default), none = kernel picks; cpu = primary + workers, user+sys per request"
  printf '%-8s %-6s %9s %16s %17s %9s %7s\n' workers sched req/s cpu_sidecar_us upstream_cpu_us p99 scale
  for row in $ROWS; do
    if [ -n "${F[$row]:-}" ]; then printf '%-15s FAILED: %s\n' "$row" "${F[$row]}"; continue; fi
    read -r n s rps cs cu p <<< "${R[$row]}"
    printf '%-8s %-6s %9s %16s %17s %9s %7s\n' "$n" "$s" "$rps" "$cs" "$cu" "$p" "$(awk -v a="$rps" -v b="$base" 'BEGIN{ if (b + 0 > 0) printf "%.2fx", a/b; else printf "-" }')"
  done
  echo "note: 2 cores shared by wrk, the upstream and the workers; the scale column understates dedicated cores"
} | tee "$out"
{
  printf '{\n  "at": "%s",\n  "config": { "durationS": %s, "connections": %s, "cores": %s, "loadgenCpus": "%s", "serverCpus": "%s" },\n  "rows": [' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$DURATION" "$CONNS" "$(nproc)" "$LOADGEN_CPUS" "$SERVER_CPUS"
  sep=''
  for row in $ROWS; do
    if [ -n "${F[$row]:-}" ]; then   # a FAILED row carries its reason and no figures
      printf '%s\n    { "key": "%s", "workers": %s, "failed": %s, "rps": null }' "$sep" "$row" "${row%%-*}" "$(json_str "${F[$row]}")"
      sep=,; continue
    fi
    read -r n s rps cs cu p <<< "${R[$row]}"
    printf '%s\n    { "key": "%s", "workers": %s, "sched": "%s", "rps": %s, "cpuSidecarUsPerReq": %s, "cpuUpstreamUsPerReq": %s, "p99": "%s", "scale": %s }' \
      "$sep" "$row" "$n" "$s" "$rps" "$cs" "$cu" "$p" "$(awk -v a="$rps" -v b="$base" 'BEGIN{ if (b + 0 > 0) printf "%.2f", a/b; else printf "null" }')"
    sep=,
  done
  printf '\n  ]\n}\n'
} > "${out%.txt}.json"
exit_if_failed
