#!/usr/bin/env bash
# TCP (layer 4) benchmark, issue 21: redis-benchmark against one redis-server
#   direct   redis-benchmark -> Redis
#   haproxy  redis-benchmark -> HAProxy (mode tcp, one thread) -> Redis
#   weft     redis-benchmark -> client sidecar (the Service's `upstreams` local port) -> mTLS
#            (MeshConfig STRICT, workload certificates from the control plane's CA) -> server
#            sidecar (--app-protocol tcp) -> Redis
# all three measured in this run with the same invocation, in every round:
#   redis-benchmark -q -t ping,set,get -n REQUESTS -c CLIENTS, killed after TIME_BOUND s
# Figures per row: requests/s of each test and overall (all operations over the sum of each
# test's time); CPU per operation: user+sys CPU of the proxy processes (HAProxy; both sidecars)
# over the operations (REQUESTS x 4 tests), and Redis's own CPU per operation; ratios against
# the direct and HAProxy rows of the same run.
# redis-benchmark runs on CPU 0; Redis, HAProxy, the control plane and the sidecars on CPU 1.
# A row whose run saw any error (an error line, a non-zero exit, the time bound, a missing test,
# a process on the path that died, a mesh that did not carry PING, a hop that answers plaintext)
# is printed as FAILED with the reason, never with numbers (bench/redis-bench-verdict.mjs decides),
# and the script then exits 1 after writing both files.
# Knobs: ROUNDS (1; medians) REQUESTS (50000 per test) CLIENTS (50) TIME_BOUND (60 s per run)
#   ROWS (default 'direct haproxy weft') RESULTS_DIR (bench/results). About 40 s a round.
# Writes RESULTS_DIR/tcp.txt (the table) and tcp.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=${ROUNDS:-1}; REQUESTS=${REQUESTS:-50000}; CLIENTS=${CLIENTS:-50}; TIME_BOUND=${TIME_BOUND:-60}
ROWS=${ROWS:-direct haproxy weft}
me=weft-tcp
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
results_file tcp
for v in ROUNDS REQUESTS CLIENTS TIME_BOUND; do
  if ! [[ "${!v}" =~ ^[0-9]+$ ]] || [ "${!v}" -eq 0 ]; then die "$v must be a positive integer"; fi
done
if [ "$ROUNDS" -gt 10 ] || [ "$TIME_BOUND" -gt 300 ] || [ "$REQUESTS" -gt 10000000 ] || [ "$CLIENTS" -gt 1000 ]; then
  die "keep ROUNDS <= 10, TIME_BOUND <= 300 s, REQUESTS <= 10000000, CLIENTS <= 1000"
fi
for r in $ROWS; do case "$r" in direct|haproxy|weft) ;; *) die "ROWS: unknown row '$r' (direct, haproxy, weft)" ;; esac; done
make_work 30 '*.out' '*/*.out'
need_bins taskset timeout redis-server redis-cli redis-benchmark
HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
TESTS=ping,set,get
OPS=$((REQUESTS * 4))   # PING_INLINE, PING_MBULK, SET, GET

# pong PORT: whether redis-cli gets PONG through 127.0.0.1:PORT within 2 s (its output in $work/pong.out).
pong() { timeout 2 redis-cli -h 127.0.0.1 -p "$1" ping > "$work/pong.out" 2>&1 && [ "$(tr -d '\r\n' < "$work/pong.out")" = PONG ]; }
last_pong() { first_lines "$work/pong.out"; }
# first_lines FILE: its first two non-blank lines on one line, spaces squeezed, at most 240 characters (a FAILED reason).
first_lines() { grep -v '^[[:space:]]*$' "$1" | head -2 | tr '\n' ' ' | tr -s ' ' | sed 's/^ //; s/ $//' | cut -c1-240; }

# --- Redis (CPU 1)
redis_port="$(free_port)"
taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --protected-mode no --save '' --appendonly no --dir "$work" \
  --loglevel warning > "$work/redis.out" 2>&1 & redis_pid=$!; pids+=("$redis_pid")
until_ok 10 pong "$redis_port" || die "redis-server did not answer PING on $redis_port: $(tail -3 "$work/redis.out")"

declare -A PORT=() PROXY_PIDS=() R=()   # R[row,round]: "ops_per_s ping_inline ping_mbulk set get cpu_proxy_us cpu_redis_us"
PORT[direct]=$redis_port; PROXY_PIDS[direct]=''

# --- HAProxy in TCP mode (CPU 1)
start_haproxy() {
  local p; p="$(free_port)"
  [ -x "$HAPROXY" ] || { fail haproxy "haproxy is not installed (make deps)"; return 1; }
  cat > "$work/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client  60s
    timeout server  60s
frontend fe
    bind 127.0.0.1:$p
    default_backend be
backend be
    server redis 127.0.0.1:$redis_port
EOF
  taskset -c 1 "$HAPROXY" -db -f "$work/haproxy.cfg" > "$work/haproxy.out" 2>&1 & hap_pid=$!; pids+=("$hap_pid")
  until_ok 10 pong "$p" || { fail haproxy "HAProxy did not carry PING (redis-cli: $(last_pong); haproxy: $(tail -2 "$work/haproxy.out" | tr '\n' ' '))"; return 1; }
  PORT[haproxy]=$p; PROXY_PIDS[haproxy]=$hap_pid
}

# --- Weft: control plane, a TCP Service, a caller with an upstream, two sidecars (CPU 1)
# A failure at any step is the weft row's FAILED reason (until issue 21 lands: the config or
# --app-protocol tcp is refused).
start_weft() {
  local d="$work/weft" local_port tb tc
  mkdir -p "$d"
  start_control_plane "$d" --cpus 1 || { fail weft "the control plane did not start"; return 1; }
  local_port="$(free_port)"
  cat > "$d/mesh.yaml" <<EOF
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: STRICT }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: redis }
spec:
  ports: [{ name: redis, port: 6379, protocol: tcp }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: client }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  upstreams:
    - { service: redis, port: 6379, localPort: $local_port }
EOF
  weft apply -f "$d/mesh.yaml" > "$d/apply.out" 2>&1 \
    || { fail weft "weft apply refused the TCP service config: $(grep -v '^error: ' "$d/apply.out" | sed "s|$d/||" | first_lines /dev/stdin)"; return 1; }
  tb="$(weft token create --service redis 2> "$d/token.out")" || { fail weft "weft token create failed: $(head -2 "$d/token.out")"; return 1; }
  tc="$(weft token create --service client 2>> "$d/token.out")" || { fail weft "weft token create failed: $(head -2 "$d/token.out")"; return 1; }
  WEFT_JOIN_TOKEN="$tb" WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" sidecar --service redis --app-port "$redis_port" --app-protocol tcp \
    --control-plane "$xds" --inbound-port 0 --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$d/server-sidecar.out" 2>&1 & ss_pid=$!; pids+=("$ss_pid")
  WEFT_JOIN_TOKEN="$tc" WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" sidecar --service client --app-port 1 \
    --control-plane "$xds" --inbound-port 0 --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$d/client-sidecar.out" 2>&1 & cs_pid=$!; pids+=("$cs_pid")
  if ! until_ok 30 pong "$local_port"; then
    local why f p
    why="the mesh did not carry PING to 127.0.0.1:$local_port in 30 s (redis-cli: $(last_pong))"
    for f in server-sidecar:$ss_pid client-sidecar:$cs_pid; do
      p=${f#*:}; f=${f%%:*}
      kill -0 "$p" 2>/dev/null || why+="; the $f exited: $(first_lines "$d/$f.out")"
    done
    fail weft "$why"; return 1
  fi
  # STRICT: the server sidecar's inbound port must not answer a plaintext PING.
  local inbound
  inbound="$(grep -o 'inbound=[0-9.]*:[0-9]*' "$d/server-sidecar.out" | head -1 | cut -d: -f2)"
  [ -n "$inbound" ] || { fail weft "no ready line with the server sidecar's inbound port"; return 1; }
  if pong "$inbound"; then fail weft "the hop is not mTLS: a plaintext PING to the server sidecar's inbound port $inbound got PONG"; return 1; fi
  PORT[weft]=$local_port; PROXY_PIDS[weft]="$cs_pid $ss_pid"
}

for r in $ROWS; do
  case "$r" in haproxy) start_haproxy || true ;; weft) start_weft || true ;; esac
done

# run ROW: one bounded redis-benchmark run; sets R[row,round], or records ROW as FAILED.
run() {
  local row=$1 rc=0 v b a rb ra p pp=() ops_s pi pm st gt cpu cpur
  read -r -a pp <<< "${PROXY_PIDS[$row]}"
  b=$(cpu_ticks "${pp[@]}"); rb=$(cpu_ticks "$redis_pid")
  taskset -c 0 timeout -s KILL "$TIME_BOUND" redis-benchmark -h 127.0.0.1 -p "${PORT[$row]}" -q -t "$TESTS" -n "$REQUESTS" -c "$CLIENTS" \
    > "$work/$row.$round.txt" 2>&1 || rc=$?
  a=$(cpu_ticks "${pp[@]}"); ra=$(cpu_ticks "$redis_pid")
  alive "$row" "$redis_pid" "${pp[@]}" || return 1
  [ "$row" != weft ] || alive "$row" "$cp_pid" || return 1
  v="$(node "$root/bench/redis-bench-verdict.mjs" --exit "$rc" --tests "$TESTS" --requests "$REQUESTS" "$work/$row.$round.txt")" \
    || { fail "$row" "${v#FAILED }"; return 1; }
  read -r _ _ ops_s pi pm st gt <<< "$v"
  cpu=-; [ -z "${pp[*]}" ] || cpu="$(cpu_us_per_req "$b" "$a" "$OPS")"
  cpur="$(cpu_us_per_req "$rb" "$ra" "$OPS")"
  R[$row,$round]="$ops_s $pi $pm $st $gt $cpu $cpur"
  echo "$me: round $round $row: $ops_s ops/s (PING_INLINE $pi, PING_MBULK $pm, SET $st, GET $gt), CPU/op ${cpu} us proxy, ${cpur} us Redis" >&2
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "$me: rows '$ROWS', rounds=$ROUNDS, redis-benchmark -n $REQUESTS -c $CLIENTS per test, at most ${TIME_BOUND}s a run" >&2
# Even rounds run the rows in reverse order, so neither row always runs first on a machine whose load drifts.
for round in $(seq "$ROUNDS"); do
  order="$ROWS"; [ $((round % 2)) = 1 ] || order="$(echo "$ROWS" | tr ' ' '\n' | tac | tr '\n' ' ')"
  for row in $order; do [ -n "${F[$row]:-}" ] || run "$row" || true; done
done
unset round

med() { local r; for r in $(seq "$ROUNDS"); do [ -n "${R[$1,$r]:-}" ] && echo "${R[$1,$r]}" | awk -v f="$2" '{print $f}'; done | grep -v '^-$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "-" && b != "-" && a != "" && b != "" && b + 0 > 0) printf "%.2f", a/b; else printf "-" }'; }
ok() { [ -z "${F[$1]:-}" ] && [[ " $ROWS " == *" $1 "* ]] && [ "$(med "$1" 1)" != - ]; }
row_name() { case "$1" in direct) echo direct ;; haproxy) echo "HAProxy (mode tcp)" ;; weft) echo "Weft 2 sidecars, mTLS" ;; esac; }
{
  echo "TCP: redis-benchmark -q -t $TESTS -n $REQUESTS -c $CLIENTS (at most ${TIME_BOUND}s a run) to one redis-server, $(nproc) cores; median of $ROUNDS round(s)"
  echo "redis-benchmark on CPU 0; Redis, HAProxy, control plane and sidecars on CPU 1; CPU/op = user+sys us of the proxy processes (HAProxy; both sidecars) / $OPS operations"
  printf '%-22s %10s %11s %10s %9s %9s %12s %12s %8s %8s %9s\n' target ops/s PING_INLINE PING_MBULK SET GET cpu_us/op redis_us/op x_direct x_haproxy cpu_x_hap
  for k in $ROWS; do
    if [ -n "${F[$k]:-}" ]; then printf '%-22s FAILED: %s\n' "$(row_name "$k")" "${F[$k]}"; continue; fi
    xd=-; xh=-; ch=-
    ok direct && xd=$(ratio "$(med "$k" 1)" "$(med direct 1)")
    ok haproxy && { xh=$(ratio "$(med "$k" 1)" "$(med haproxy 1)"); ch=$(ratio "$(med "$k" 6)" "$(med haproxy 6)"); }
    printf '%-22s %10s %11s %10s %9s %9s %12s %12s %8s %8s %9s\n' "$(row_name "$k")" "$(med "$k" 1)" "$(med "$k" 2)" "$(med "$k" 3)" "$(med "$k" 4)" "$(med "$k" 5)" \
      "$(med "$k" 6)" "$(med "$k" 7)" "$xd" "$xh" "$ch"
  done
  echo "x_direct, x_haproxy: ops/s against that row; cpu_x_hap: proxy CPU per operation against HAProxy's (same run)"
  echo "load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (2 cores: much above 0.5 means other work ran)"
} | tee "$out"
# The same numbers, machine-readable (bench/report.mjs): medians and every round; null = not measured.
jnum() { case "$1" in ''|-) echo null ;; *) echo "$1" ;; esac; }
{
  printf '{\n  "at": "%s",\n  "config": { "rounds": %s, "requests": %s, "clients": %s, "timeBoundS": %s, "tests": "%s", "operations": %s, "cores": %s },\n  "rows": [' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ROUNDS" "$REQUESTS" "$CLIENTS" "$TIME_BOUND" "$TESTS" "$OPS" "$(nproc)"
  sep=''
  for k in $ROWS; do
    if [ -n "${F[$k]:-}" ]; then
      printf '%s\n    { "key": "%s", "name": "%s", "failed": %s, "opsPerS": null, "cpuUsPerOp": null, "redisCpuUsPerOp": null, "rounds": [] }' \
        "$sep" "$k" "$(row_name "$k")" "$(json_str "${F[$k]}")"
      sep=,; continue
    fi
    rounds=''
    for r in $(seq "$ROUNDS"); do
      [ -n "${R[$k,$r]:-}" ] || continue
      read -r o pi pm st gt c cr <<< "${R[$k,$r]}"
      rounds+="${rounds:+, }{ \"opsPerS\": $(jnum "$o"), \"rps\": { \"PING_INLINE\": $pi, \"PING_MBULK\": $pm, \"SET\": $st, \"GET\": $gt }, \"cpuUsPerOp\": $(jnum "$c"), \"redisCpuUsPerOp\": $(jnum "$cr") }"
    done
    printf '%s\n    { "key": "%s", "name": "%s", "opsPerS": %s, "rps": { "PING_INLINE": %s, "PING_MBULK": %s, "SET": %s, "GET": %s }, "cpuUsPerOp": %s, "redisCpuUsPerOp": %s, "rounds": [%s] }' \
      "$sep" "$k" "$(row_name "$k")" "$(jnum "$(med "$k" 1)")" "$(jnum "$(med "$k" 2)")" "$(jnum "$(med "$k" 3)")" "$(jnum "$(med "$k" 4)")" "$(jnum "$(med "$k" 5)")" \
      "$(jnum "$(med "$k" 6)")" "$(jnum "$(med "$k" 7)")" "$rounds"
    sep=,
  done
  printf '\n  ]\n}\n'
} > "${out%.txt}.json"
exit_if_failed
