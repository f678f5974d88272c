#!/usr/bin/env bash
# Two-hop mesh benchmark: app -> sidecar A (outbound) -> sidecar B (inbound) -> app, with the hop
# between the sidecars in plaintext (MeshConfig mtls DISABLE) and in mTLS (STRICT, TLS 1.3, P-256
# workload certificates from the control plane's CA), against the upstream reached directly.
# All three rows are measured in this run, with the same wrk invocations:
#   fixed rate: wrk -t1 -c10 -d${LAT_DURATION}s at ${LAT_RATE} req/s (bench/proxy/wrk/paced.lua): p50, p99
#   saturation: wrk -t1 -c50 -d${DURATION}s: req/s, and each sidecar's user+sys CPU / requests
# wrk runs on CPU 0; upstream, control plane and sidecars on CPU 1 (2-core machine).
# Tracing rows (issue 5): mTLS with tracing on at 0%, 1% and 100% head sampling (requests carry no
# traceparent, so the ratio decides), exporting to the control plane's embedded OTLP receiver.
# Knobs: LAT_RATE (2000) LAT_DURATION (8) DURATION (8) ROUNDS (1; median of the rounds),
# MODES (default 'DISABLE STRICT'; '' for the direct row only), TRACING_ROWS (default
# 'STRICT+T0 STRICT+T1 STRICT+T100'; '' for none), RESULTS_DIR (bench/results),
# UPSTREAM_STATUS (unset; e.g. 503: the upstream is bench/status-server.mjs answering only that
# status, to see the rows fail).
# A row whose runs saw any error (non-2xx, socket errors, no percentiles, a process that died, a
# mesh that did not come up) is printed as FAILED with the reason, never with numbers
# (bench/wrk-verdict.mjs decides), and the script then exits 1 after writing both files.
# Writes RESULTS_DIR/two-hop.txt (the table) and two-hop.json (the same figures, and every round).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LAT_RATE=${LAT_RATE:-2000}; LAT_DURATION=${LAT_DURATION:-8}; DURATION=${DURATION:-8}; ROUNDS=${ROUNDS:-1}
UP_PORT=${UP_PORT:-19100}; A_PORT=${A_PORT:-19101}; MODES=${MODES-DISABLE STRICT}
me=weft-two-hop
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
results_file two-hop
make_work 40 '*/*.out'
need_bins wrk taskset curl

if [ -n "${UPSTREAM_STATUS:-}" ]; then
  taskset -c 1 node "$root/bench/status-server.mjs" "$UP_PORT" "$UPSTREAM_STATUS" > "$work/upstream.log" 2>&1 & up_pid=$!
else
  taskset -c 1 node "$root/bench/proxy/upstream.js" "$UP_PORT" > "$work/upstream.log" 2>&1 & up_pid=$!
fi
pids+=($up_pid)
# Not fatal: an upstream that does not answer makes every row FAILED, with the reason.
until_ok 5 curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/" || true
declare -A R   # R[key,round]: "p50 p99 rps cpuA cpuB"; F[key] (lib.sh): why the row FAILED

# mesh MODE: starts a control plane and two sidecars; sets sa_pid sb_pid and the entry URL.
# mesh KEY: KEY is DISABLE or STRICT (mTLS mode), optionally +T<percent> (tracing on at that
# sampling, spans exported to the control plane's embedded receiver).
mesh() {
  local key=$1 d="$work/$1" mode=${1%%+*} otlp=off sampling=''
  case "$key" in *+T*) sampling=${key##*+T}; otlp=127.0.0.1:0 ;; esac
  start_control_plane "$d" --cpus 1 --otlp "$otlp" || { fail "$key" "the control plane did not start"; return 1; }
  local tr=''
  [ -n "$sampling" ] && tr="  tracing: { samplingPercent: $sampling }"$'\n'
  printf 'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  mtls: { mode: %s }\n%s---\napiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n---\napiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: client }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' "$mode" "$tr" \
    | weft apply -f - > /dev/null
  local tb tc
  tb="$(weft token create --service bench 2>/dev/null)"
  tc="$(weft token create --service client 2>/dev/null)"
  WEFT_JOIN_TOKEN="$tb" WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" sidecar --service bench --app-port "$UP_PORT" --control-plane "$xds" \
    --inbound-port 0 --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$d/b.out" 2>&1 & sb_pid=$!; pids+=($sb_pid)
  WEFT_JOIN_TOKEN="$tc" WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" sidecar --service client --app-port 1 --control-plane "$xds" \
    --inbound-port 0 --inbound-address 127.0.0.1 --outbound-port "$A_PORT" --admin-port 0 > "$d/a.out" 2>&1 & sa_pid=$!; pids+=($sa_pid)
  wait_http 20 "http://127.0.0.1:$A_PORT/" -H 'Host: bench' \
    || { fail "$key" "the mesh did not come up (last answer '${http_last:-none}', want 200)"; tail -n 20 "$d"/*.out >&2; return 1; }
}
stop_mesh() { kill "$sa_pid" "$sb_pid" "$(cat "$work/$1/cp.pid")" 2>/dev/null || true; wait "$sa_pid" "$sb_pid" 2>/dev/null || true; }

warm() { taskset -c 0 wrk -t1 -c10 -d3s -H 'Host: bench' "$1" > /dev/null 2>&1 || true; }
# lat KEY URL PID...: the fixed-rate run; sets P50 P99 (ms), or records KEY as FAILED and returns 1.
lat() {
  local k=$1 url=$2 rc=0 v; shift 2
  taskset -c 0 wrk -t1 -c10 -d"${LAT_DURATION}s" --latency -H 'Host: bench' -s "$root/bench/proxy/wrk/paced.lua" "$url" -- "$LAT_RATE" 1 > "$work/lat.txt" 2>&1 || rc=$?
  alive "$k" "$@" || return 1
  v="$(node "$root/bench/wrk-verdict.mjs" --percentiles --exit "$rc" "$work/lat.txt")" || { fail "$k" "fixed-rate run: ${v#FAILED }"; return 1; }
  read -r _ _ _ P50 P99 <<< "$v"
}
# sat KEY URL PID...: the saturation run; sets RPS and CPU (user+sys us per request of each PID, in
# order), or records KEY as FAILED and returns 1.
sat() {
  local k=$1 url=$2 rc=0 v before=() p i=0 reqs; shift 2
  for p in "$@"; do before+=("$(cpu_ticks "$p")"); done
  taskset -c 0 wrk -t1 -c50 -d"${DURATION}s" -H 'Host: bench' "$url" > "$work/sat.txt" 2>&1 || rc=$?
  alive "$k" "$@" || return 1
  v="$(node "$root/bench/wrk-verdict.mjs" --exit "$rc" "$work/sat.txt")" || { fail "$k" "saturation run: ${v#FAILED }"; return 1; }
  read -r _ reqs RPS _ _ <<< "$v"
  CPU=''
  for p in "$@"; do CPU="$CPU $(cpu_us_per_req "${before[$i]}" "$(cpu_ticks "$p")" "$reqs")"; i=$((i+1)); done
}

for round in $(seq "$ROUNDS"); do
  warm "http://127.0.0.1:$UP_PORT/"
  if lat direct "http://127.0.0.1:$UP_PORT/" "$up_pid" && sat direct "http://127.0.0.1:$UP_PORT/" "$up_pid"; then
    R[direct,$round]="$P50 $P99 $RPS - -"
  fi
  for mode in $MODES ${TRACING_ROWS-STRICT+T0 STRICT+T1 STRICT+T100}; do
    if mesh "$mode"; then
      warm "http://127.0.0.1:$A_PORT/"
      # Every process on the path must live through each run: the upstream, the control plane, both sidecars.
      live=("$up_pid" "$(cat "$work/$mode/cp.pid")" "$sa_pid" "$sb_pid")
      if lat "$mode" "http://127.0.0.1:$A_PORT/" "${live[@]}" && sat "$mode" "http://127.0.0.1:$A_PORT/" "$sa_pid" "$sb_pid" "${live[@]}"; then
        read -r ca cb _ <<< "$CPU"
        R[$mode,$round]="$P50 $P99 $RPS $ca $cb"
      fi
    fi
    stop_mesh "$mode"
  done
done

delta() { [ "$2" = - ] && echo - || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", a-b}'; }
col() { local k=$1 c=$2; for r in $(seq "$ROUNDS"); do echo "${R[$k,$r]}" | awk -v c="$c" '{print $c}'; done | grep -v '^-$' | median; }
row_name() { case "$1" in DISABLE) echo "two-hop plaintext" ;; STRICT) echo "two-hop mTLS (TLS1.3)" ;; STRICT+T*) echo "mTLS, tracing ${1##*+T}%" ;; *) echo "$1" ;; esac; }
{
  echo "Two-hop mesh (wrk -> sidecar A -> sidecar B -> upstream) vs direct; median of $ROUNDS round(s)"
  echo "fixed rate: $LAT_RATE req/s, wrk -t1 -c10 -d${LAT_DURATION}s; saturation: wrk -t1 -c50 -d${DURATION}s; CPU = user+sys per request"
  printf '%-22s %8s %8s %10s %10s %9s %12s %12s\n' target p50_ms p99_ms +p50_ms +p99_ms req/s cpu_A_us/req cpu_B_us/req
  d50=-; d99=-; [ -n "${F[direct]:-}" ] || { d50=$(col direct 1); d99=$(col direct 2); }
  for k in direct $MODES ${TRACING_ROWS-STRICT+T0 STRICT+T1 STRICT+T100}; do
    name="$(row_name "$k")"
    if [ -n "${F[$k]:-}" ]; then printf '%-22s FAILED: %s\n' "$name" "${F[$k]}"; continue; fi
    p50=$(col "$k" 1); p99=$(col "$k" 2)
    printf '%-22s %8s %8s %10s %10s %9s %12s %12s\n' "$name" "$p50" "$p99" \
      "$(delta "$p50" "$d50")" "$(delta "$p99" "$d99")" \
      "$(col "$k" 3)" "$(col "$k" 4)" "$(col "$k" 5)"
  done
} | tee "$out"
# The same numbers, machine-readable (bench/report.mjs): the medians above and every round; null = not measured.
jnum() { case "$1" in ''|-) echo null ;; *) echo "$1" ;; esac; }
{
  printf '{\n  "at": "%s",\n  "config": { "latRate": %s, "latDurationS": %s, "durationS": %s, "rounds": %s },\n  "rows": [' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$LAT_RATE" "$LAT_DURATION" "$DURATION" "$ROUNDS"
  sep=''
  for k in direct $MODES ${TRACING_ROWS-STRICT+T0 STRICT+T1 STRICT+T100}; do
    rounds=''
    if [ -n "${F[$k]:-}" ]; then   # a FAILED row carries its reason and no figures
      printf '%s\n    { "key": "%s", "name": "%s", "failed": %s, "p50Ms": null, "p99Ms": null, "rps": null, "cpuAUsPerReq": null, "cpuBUsPerReq": null, "rounds": [] }' \
        "$sep" "$k" "$(row_name "$k")" "$(json_str "${F[$k]}")"
      sep=,; continue
    fi
    for r in $(seq "$ROUNDS"); do
      read -r a b c d e <<< "${R[$k,$r]}"
      rounds+="${rounds:+, }{ \"p50Ms\": $(jnum "$a"), \"p99Ms\": $(jnum "$b"), \"rps\": $(jnum "$c"), \"cpuAUsPerReq\": $(jnum "$d"), \"cpuBUsPerReq\": $(jnum "$e") }"
    done
    printf '%s\n    { "key": "%s", "name": "%s", "p50Ms": %s, "p99Ms": %s, "rps": %s, "cpuAUsPerReq": %s, "cpuBUsPerReq": %s, "rounds": [%s] }' \
      "$sep" "$k" "$(row_name "$k")" "$(jnum "$(col "$k" 1)")" "$(jnum "$(col "$k" 2)")" "$(jnum "$(col "$k" 3)")" \
      "$(jnum "$(col "$k" 4)")" "$(jnum "$(col "$k" 5)")" "$rounds"
    sep=,
  done
  printf '\n  ]\n}\n'
} > "${out%.txt}.json"
exit_if_failed
