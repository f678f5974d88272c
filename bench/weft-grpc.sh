#!/usr/bin/env bash
# gRPC benchmark (issue 24 item 1): one proxy hop in front of a grpc-js upstream, h2c (prior
# knowledge) in and out, against the same upstream called directly, nginx (grpc_pass) and Caddy
# (reverse_proxy h2c://).
#   h2load (CPU 0) -> [ nginx | caddy | one Weft sidecar ] (CPU 1) -> bench/grpc-upstream.mjs (CPU 1)
# Rows (ROWS): direct (no proxy: CPU = the upstream's own cost), nginx
# (bench/proxy/peers/nginx-grpc.conf.in, worker_processes 1), caddy (Debian's, `reverse_proxy
# h2c://`, the server speaking h1 and h2c), weft (one sidecar configured by a real control plane
# like bench/weft-single-hop.sh, its Service's port `protocol: grpc`, --app-port the upstream;
# h2load sends to its inbound port). Measurements per row, each after its own call checks OK:
#   unary -m1   h2load -c50 -m1, POST /weft.bench.Echo/Unary (64-byte answer): calls/s, proxy CPU per call
#   unary mux   h2load -c4 -m32, the same call: calls/s, CPU per call
#   stream      h2load -c50 -m1, /weft.bench.Echo/Stream (100 messages of 64 B per call): calls/s, CPU per message
#   fixed rate  unary at 2,000 calls/s: h2load -c10 -m1 --rps 200 and (mux) -c2 -m8 --rps 1000, for
#               LAT_DURATION s; p50/p99 from h2load's --log-file (h2load prints no percentiles)
# CPU = user+sys ticks of the proxy's processes (nginx: master and worker) over the run / calls
# completed; the direct row's CPU is the upstream's. /nginx and /direct: a row's CPU per call
# against the nginx and direct rows' for the same measurement (medians), same run.
# A row whose target saw any error is printed as FAILED with the reason and gets no numbers, and
# the script exits 1 after writing both files: h2load failed/errored/timed-out requests or 4xx/5xx
# (bench/wrk-verdict.mjs --h2load), a process on the path that died, or a grpc-status other than 0
# on a one-shot grpc-js call (bench/grpc-upstream.mjs --call) to the row's address right before and
# right after each run (h2load counts an HTTP 200 carrying grpc-status 14 as a success and cannot
# read trailers).
# Knobs: DURATION (5) LAT_DURATION (5) WARMUP (2) ROUNDS (1; medians of the rounds) ROWS (direct
# nginx caddy weft) RESULTS_DIR (bench/results) WEFT_APP_PORT (the weft sidecar's --app-port; default
# the upstream: point it elsewhere to watch the weft row come out FAILED), WEFT_BASE_ROOT (adds row
# weft-base: the sidecar built there, e.g. WEFT_BASE_ROOT=$(bash bench/baseline.sh HEAD~3), so a
# change's cost is a same-run ratio).
# Writes RESULTS_DIR/grpc.txt (the table) and grpc.json (the same figures, and every round).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION=${DURATION:-5}; LAT_DURATION=${LAT_DURATION:-5}; WARMUP=${WARMUP:-2}; ROUNDS=${ROUNDS:-1}
rows="${ROWS:-direct nginx caddy weft${WEFT_BASE_ROOT:+ weft-base}}"
me=weft-grpc
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
results_file grpc
make_work 40 '*.out' '*.log'
need_bins h2load taskset node curl
STREAM_MESSAGES=100; export STREAM_MESSAGES
notes=()   # lines printed under the table (a row left out, and why)

# The upstream, on CPU 1.
taskset -c 1 node "$root/bench/grpc-upstream.mjs" 0 > "$work/upstream.out" 2>&1 & up_pid=$!; pids+=("$up_pid")
until_ok 10 grep -qs listening "$work/upstream.out" || die "the grpc-js upstream did not start"
up_port="$(awk '/listening/{print $2}' "$work/upstream.out")"

declare -A ADDR PROXY   # ADDR[row]: host:port h2load and the check call go to; PROXY[row]: the pids whose CPU is the row's
# proxy_pids ROW: the pids measured for ROW now (nginx: the master and its workers).
proxy_pids() {
  case "$1" in
    direct) echo "$up_pid" ;;
    nginx) echo "$nginx_pid" $(pgrep -P "$nginx_pid" || true) ;;
    *) echo "${PROXY[$1]}" ;;
  esac
}
# grpc_call ROW METHOD: one grpc-js call to the row's address (on CPU 0); sets st to the
# grpc-status it got ("none": no answer) and call_said to what the client printed.
grpc_call() {
  call_said="$(timeout 10 taskset -c 0 node "$root/bench/grpc-upstream.mjs" --call "${ADDR[$1]}" "$2" 2>&1 | tail -3 | tr '\n' ' ' || true)"
  call_said="${call_said% }"
  st="$(awk '/^grpc-status/{print $2; f=1} END{if (!f) print "none"}' <<< "$call_said")"
}

start_row() { # ROW: starts the row's proxy; a row that does not answer grpc-status 0 is FAILED
  local row=$1 port
  case "$row" in
    direct) ADDR[direct]="127.0.0.1:$up_port" ;;
    nginx)
      command -v nginx > /dev/null || { fail nginx "nginx not installed (run bench/proxy/setup.sh)"; return 1; }
      port="$(free_port)"
      start_nginx nginx-grpc.conf.in "$work/nginx" "$port" "$up_port" -g 'daemon off;'
      ADDR[nginx]="127.0.0.1:$port" ;;
    caddy)
      command -v caddy > /dev/null || { fail caddy "caddy not installed (run bench/proxy/setup.sh)"; return 1; }
      port="$(free_port)"
      # Prior-knowledge h2c in (the server's protocols), h2c out; no admin, no automatic HTTPS, no access log.
      printf '{\n\tadmin off\n\tauto_https off\n\tservers {\n\t\tprotocols h1 h2c\n\t}\n}\nhttp://127.0.0.1:%s {\n\treverse_proxy h2c://127.0.0.1:%s\n}\n' \
        "$port" "$up_port" > "$work/Caddyfile"
      taskset -c 1 caddy run --config "$work/Caddyfile" --adapter caddyfile > "$work/caddy.log" 2>&1 & PROXY[caddy]=$!; pids+=("${PROXY[caddy]}")
      ADDR[caddy]="127.0.0.1:$port" ;;
    weft|weft-base)
      # weft-base: the sidecar built at WEFT_BASE_ROOT (bench/baseline.sh REF prints one), same control plane.
      local build="$root"; [ "$row" = weft-base ] && build="${WEFT_BASE_ROOT:?weft-base needs WEFT_BASE_ROOT}"
      if [ -z "${cp_pid:-}" ]; then
        start_control_plane "$work/cp" --cpus 1 || { fail "$row" "the control plane did not start"; return 1; }
        printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bench }\nspec:\n  ports: [{ name: grpc, port: 9090, protocol: grpc }]\n' \
          | weft apply -f - > /dev/null
      fi
      port="$(free_port)"
      # --app-protocol grpc: the sidecar speaks h2c to the app (without it, HTTP/1.1, which a grpc-js server does not answer).
      WEFT_JOIN_TOKEN="$(weft token create --service bench 2>/dev/null)" WEFT_LOG_LEVEL=warn taskset -c 1 node "$build/bin/weft.js" sidecar \
        --service bench --app-port "${WEFT_APP_PORT:-$up_port}" --app-protocol grpc --control-plane "$xds" \
        --inbound-port "$port" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$work/$row.out" 2>&1 & PROXY[$row]=$!; pids+=("${PROXY[$row]}")
      ADDR[$row]="127.0.0.1:$port" ;;
    *) die "unknown row '$row' (ROWS: direct nginx caddy weft weft-base)" ;;
  esac
  local st=none
  for _ in $(seq 40); do   # at most ~20 s for the target to come up and answer
    grpc_call "$row" Unary; [ "$st" = 0 ] && break
    alive "$row" $(proxy_pids "$row") || return 1
    sleep 0.5
  done
  if [ "$st" != 0 ]; then
    if [ "$row" = caddy ]; then   # Caddy not speaking prior-knowledge h2c is a gap in the peer, not a failing target: say so, leave the row out
      local v; v="$(curl -s --max-time 5 --http2-prior-knowledge -o /dev/null -w '%{http_version}' "http://${ADDR[caddy]}/" || true)"
      [ "$v" = 2 ] || { notes+=("caddy: left out: it does not serve prior-knowledge h2c here (curl --http2-prior-knowledge got HTTP version '${v:-none}'; gRPC call: $call_said)"); return 2; }
    fi
    fail "$row" "grpc-status '$st' at start, want 0 ($call_said)"; return 1
  fi
}

printf '\x00\x00\x00\x00\x00' > "$work/empty.grpc"   # a gRPC frame: not compressed, 0 bytes (the methods ignore the request)
declare -A R   # R[row,meas,round]: "calls/s cpu_us_per_call upstream_cpu_us_per_call" (rate rows: "calls/s p50_ms p99_ms")
meas_all="m1 mux stream rate ratemux"
# run ROW MEAS SECONDS: one h2load run; sets OUT, or records the row as FAILED and returns 1.
run() {
  local row=$1 meas=$2 secs=$3 method=Unary load=() before=() p rc=0 st v reqs procs
  case "$meas" in
    m1) load=(-c50 -m1) ;; mux) load=(-c4 -m32) ;; stream) load=(-c50 -m1); method=Stream ;;
    rate) load=(-c10 -m1 --rps 200 --log-file "$work/lat.tsv") ;; ratemux) load=(-c2 -m8 --rps 1000 --log-file "$work/lat.tsv") ;;
  esac
  grpc_call "$row" "$method"
  [ "$st" = 0 ] || { fail "$row" "$meas: grpc-status '$st' right before the run, want 0 ($call_said)"; return 1; }
  read -ra procs <<< "$(proxy_pids "$row")"
  for p in "${procs[@]}"; do before+=("$(cpu_ticks "$p")"); done
  local up_before; up_before="$(cpu_ticks "$up_pid")"
  rm -f "$work/lat.tsv"
  taskset -c 0 h2load -t1 "${load[@]}" -D "$secs" -d "$work/empty.grpc" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://${ADDR[$row]}/weft.bench.Echo/$method" > "$work/load.txt" 2>&1 || rc=$?
  local after=0 b=0 i=0
  for p in "${procs[@]}"; do after=$((after + $(cpu_ticks "$p"))); b=$((b + before[i])); i=$((i + 1)); done
  local up_after; up_after="$(cpu_ticks "$up_pid")"
  alive "$row" "${procs[@]}" "$up_pid" ${cp_pid:+"$cp_pid"} || return 1
  v="$(node "$root/bench/wrk-verdict.mjs" --exit "$rc" --h2load "$work/load.txt")" \
    || { fail "$row" "$meas: ${v#FAILED }"; cat "$work/load.txt" >&2; return 1; }
  read -r _ reqs _ _ _ <<< "$v"
  grpc_call "$row" "$method"
  [ "$st" = 0 ] || { fail "$row" "$meas: grpc-status '$st' right after the run, want 0 ($call_said)"; return 1; }
  local rps; rps="$(awk '/^finished in/{printf "%d", '"$reqs"' / $3}' "$work/load.txt")"
  case "$meas" in
    rate|ratemux)
      # The log's third column: microseconds from each request's start to its whole answer.
      [ -s "$work/lat.tsv" ] || { fail "$row" "$meas: h2load wrote no --log-file"; return 1; }
      local bad; bad="$(awk -F'\t' '$2 != 200 {n++} END{print n + 0}' "$work/lat.tsv")"
      [ "$bad" = 0 ] || { fail "$row" "$meas: $bad answers in the --log-file were not HTTP 200"; return 1; }
      OUT="$rps $(awk -F'\t' '{print $3}' "$work/lat.tsv" | sort -n \
        | awk '{a[NR]=$1} END{ i50=int(NR*0.50+0.5); i99=int(NR*0.99+0.5); if (i50<1) i50=1; if (i99<1) i99=1; printf "%.3f %.3f", a[i50]/1000, a[i99]/1000 }')" ;;
    *)
      local div=$reqs; [ "$meas" = stream ] && div=$((reqs * STREAM_MESSAGES))
      OUT="$rps $(cpu_us_per_req "$b" "$after" "$div") $(cpu_us_per_req "$up_before" "$up_after" "$div")" ;;
  esac
}

measured=''   # the rows started (a row left out is not in it)
for row in $rows; do
  rc=0; start_row "$row" || rc=$?
  [ "$rc" = 2 ] && continue
  measured+=" $row"
done
for round in $(seq "$ROUNDS"); do
  for row in $measured; do
    [ -z "${F[$row]:-}" ] || continue
    # Warm-up (JIT, connection pools): unary -m1 and the stream, not timed; a failure here is a FAILED row too.
    run "$row" m1 "$WARMUP" && run "$row" stream "$WARMUP" || continue
    for meas in m1 mux stream; do run "$row" "$meas" "$DURATION" || continue 2; R[$row,$meas,$round]="$OUT"; done
    for meas in rate ratemux; do run "$row" "$meas" "$LAT_DURATION" || continue 2; R[$row,$meas,$round]="$OUT"; done
  done
done
unset round

col() { for r in $(seq "$ROUNDS"); do echo "${R[$1,$2,$r]:-}" | awk -v c="$3" 'NF{print $c}'; done | median; }
ratio() { awk -v a="$1" -v z="$2" -v x="${3-x}" 'BEGIN{ if (a != "-" && z != "-" && z + 0 > 0) printf "%.2f%s", a/z, x; else printf "-" }'; }
ok_row() { [ -z "${F[$1]:-}" ] && [[ " $measured " == *" $1 "* ]]; }
base() { ok_row "$1" && col "$1" "$2" 2 || echo -; }   # the nginx/direct CPU figure a ratio divides by
meas_name() { case "$1" in m1) echo 'unary -c50 -m1' ;; mux) echo 'unary -c4 -m32' ;; stream) echo 'stream x100 -c50' ;; esac; }
{
  echo "gRPC, one hop: h2load (CPU 0) -> proxy -> grpc-js upstream (CPU 1), h2c; ${DURATION}s per run after ${WARMUP}s warm-up, median of $ROUNDS round(s)"
  echo "CPU = user+sys of the proxy's processes per call (stream: per message, 100 per call); direct: the upstream's own; /nginx, /direct: against those rows' CPU"
  printf '%-9s %-17s %9s %13s %8s %8s %13s\n' target measurement calls/s cpu_us/call /nginx /direct upstream_us
  for row in $rows; do
    [[ " $measured " == *" $row "* ]] || continue
    if [ -n "${F[$row]:-}" ]; then printf '%-9s FAILED: %s\n' "$row" "${F[$row]}"; continue; fi
    for meas in m1 mux stream; do
      c=$(col "$row" "$meas" 2)
      printf '%-9s %-17s %9s %13s %8s %8s %13s\n' "$row" "$(meas_name "$meas")" "$(col "$row" "$meas" 1)" "$c" \
        "$(ratio "$c" "$(base nginx "$meas")")" "$(ratio "$c" "$(base direct "$meas")")" "$(col "$row" "$meas" 3)"
    done
  done
  echo
  echo "fixed rate, unary at 2,000 calls/s for ${LAT_DURATION}s: -c10 -m1 --rps 200 and -c2 -m8 --rps 1000 (p50/p99 from h2load --log-file, ms)"
  printf '%-9s %9s %9s %9s %9s %9s %9s\n' target m1_calls/s m1_p50 m1_p99 mux_calls/s mux_p50 mux_p99
  for row in $rows; do
    [[ " $measured " == *" $row "* ]] || continue
    if [ -n "${F[$row]:-}" ]; then printf '%-9s FAILED: %s\n' "$row" "${F[$row]}"; continue; fi
    printf '%-9s %9s %9s %9s %9s %9s %9s\n' "$row" "$(col "$row" rate 1)" "$(col "$row" rate 2)" "$(col "$row" rate 3)" \
      "$(col "$row" ratemux 1)" "$(col "$row" ratemux 2)" "$(col "$row" ratemux 3)"
  done
  echo "(a row under 2,000 calls/s could not keep that rate; its p50/p99 are at the rate it reached)"
  for n in "${notes[@]}"; do echo "$n"; done
} | tee "$out"

# The same numbers, machine-readable (bench/report.mjs): the medians above and every round.
jnum() { [ "$1" = - ] || [ -z "$1" ] && echo null || echo "$1"; }
{
  printf '{\n  "at": "%s",\n  "config": { "durationS": %s, "latDurationS": %s, "warmupS": %s, "rounds": %s, "streamMessages": %s, "rateCallsPerS": 2000, "upstream": "bench/grpc-upstream.mjs" },\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$DURATION" "$LAT_DURATION" "$WARMUP" "$ROUNDS" "$STREAM_MESSAGES"
  printf '  "notes": [%s],\n  "rows": [' "$(sep=''; for n in "${notes[@]}"; do printf '%s%s' "$sep" "$(json_str "$n")"; sep=', '; done)"
  sep=''
  for row in $rows; do
    [[ " $measured " == *" $row "* ]] || continue
    if [ -n "${F[$row]:-}" ]; then   # a FAILED row carries its reason and no figures
      printf '%s\n    { "key": "%s", "failed": %s, "unaryM1": null, "unaryMux": null, "stream": null, "rate": null, "rateMux": null, "rounds": [] }' \
        "$sep" "$row" "$(json_str "${F[$row]}")"
      sep=,; continue
    fi
    figs=''
    for meas in m1 mux stream; do
      c=$(col "$row" "$meas" 2); unit=$([ "$meas" = stream ] && echo Msg || echo Call)
      figs+="$(printf '"%s": { "callsPerS": %s, "cpuUsPer%s": %s, "upstreamCpuUsPer%s": %s, "cpuVsNginx": %s, "cpuVsDirect": %s }, ' \
        "$(case $meas in m1) echo unaryM1 ;; mux) echo unaryMux ;; *) echo stream ;; esac)" "$(col "$row" "$meas" 1)" "$unit" "$c" "$unit" "$(col "$row" "$meas" 3)" \
        "$(jnum "$(ratio "$c" "$(base nginx "$meas")" '')")" "$(jnum "$(ratio "$c" "$(base direct "$meas")" '')")")"
    done
    for meas in rate ratemux; do
      figs+="$(printf '"%s": { "callsPerS": %s, "p50Ms": %s, "p99Ms": %s }, ' "$([ $meas = rate ] && echo rate || echo rateMux)" \
        "$(col "$row" "$meas" 1)" "$(col "$row" "$meas" 2)" "$(col "$row" "$meas" 3)")"
    done
    rounds=''
    for r in $(seq "$ROUNDS"); do
      rounds+="${rounds:+, }{"; s2=''
      for meas in $meas_all; do rounds+="$s2\"$meas\": [$(echo "${R[$row,$meas,$r]}" | tr ' ' ',')]"; s2=', '; done
      rounds+="}"
    done
    printf '%s\n    { "key": "%s", %s"rounds": [%s] }' "$sep" "$row" "$figs" "$rounds"
    sep=,
  done
  printf '\n  ]\n}\n'
} > "${out%.txt}.json"
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "${out%.txt}.json" || die "wrote invalid JSON to ${out%.txt}.json"
exit_if_failed
