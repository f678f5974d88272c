#!/usr/bin/env bash
# API-gateway benchmark: what JWT + API key + a global rate limit cost on a `weft gateway` hop,
# against the same gateway's plain hop, same process, same run, same upstream.
#   client (CPU 0) -> HTTP/1.1 keep-alive -> weft gateway (CPU 1) -> upstream (CPU 1); Redis (CPU 1)
# One control plane, one Gateway with one plain-HTTP listener, two HTTPRoutes (by hostname) to one Service
# (static endpoint: bench/edge-upstream.mjs):
#   plain  GET / with Host plain.bench: no policy
#   api    GET / with Host api.bench: a JwtPolicy (an ES256 key set inline: the benchmark measures verifying,
#          not fetching), an ApiKeyPolicy (the key issued by `weft key issue`), and a global
#          RateLimitPolicy per consumer in a real redis-server, its limit far above the load so every
#          request runs the Redis script and none is refused
# Every api request carries a valid token and key (minted once by bench/api-credentials.mjs with
# jose); a row counts only if every response was 2xx (a 401/403/429 would measure a rejection).
# Rows (ROWS), each measured on both routes in every round:
#   keepalive  saturation wrk -t1 -cCONNS for DURATION s (req/s, CPU per request of the gateway, and
#              of the gateway plus Redis), then wrk -cLAT_CONNS paced at LAT_RATE req/s for
#              LAT_DURATION s (p50, p99)
# Ratios are api/plain. The aim (AIM, 1.3: Kong publishes about 30 % less throughput with key auth
# and a rate limit) is printed with whether it is met (gateway CPU per request); never enforced.
# Knobs: ROUNDS (1) DURATION (5) LAT_DURATION (5) WARMUP (2) CONNS (50) LAT_CONNS (10) LAT_RATE (500)
#   AIM (1.3) RESULTS_DIR (bench/results). About 1 min a round.
# Writes RESULTS_DIR/api.txt (the table) and api.json; exits 1 when a row FAILED.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS=${ROUNDS:-1}; DURATION=${DURATION:-5}; LAT_DURATION=${LAT_DURATION:-5}; WARMUP=${WARMUP:-2}
CONNS=${CONNS:-50}; LAT_CONNS=${LAT_CONNS:-10}; LAT_RATE=${LAT_RATE:-500}; AIM=${AIM:-1.3}
me=weft-api
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
results_file api
for v in ROUNDS DURATION LAT_DURATION WARMUP CONNS LAT_CONNS LAT_RATE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ "$DURATION" -le 120 ] && [ "$LAT_DURATION" -le 120 ] && [ "$WARMUP" -le 30 ] && [ "$ROUNDS" -le 10 ] \
  || die "keep DURATION, LAT_DURATION <= 120 s, WARMUP <= 30 s, ROUNDS <= 10"
make_work 30 '*.out' '*.log'
need_bins wrk taskset curl
REDIS_SERVER=${WEFT_REDIS_SERVER:-redis-server}
command -v "$REDIS_SERVER" > /dev/null || die "redis-server missing (make test-deps installs it)"

# --- upstream and Redis (CPU 1)
taskset -c 1 node "$root/bench/edge-upstream.mjs" 0 > "$work/upstream.out" 2>&1 & up_pid=$!; pids+=("$up_pid")
until_ok 5 grep -qs listening "$work/upstream.out" || die "the upstream did not start"
up_port="$(awk '/listening/{print $2; exit}' "$work/upstream.out")"
redis_port="$(free_port)"
taskset -c 1 "$REDIS_SERVER" --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" > "$work/redis.out" 2>&1 & redis_pid=$!; pids+=("$redis_pid")
until_ok 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$redis_port && printf 'PING\r\n' >&3 && head -c5 <&3 | grep -q PONG" 2> /dev/null || die "redis-server did not start"

# --- credentials: an ES256 key pair (its public half inline in the JwtPolicy), a token
node "$root/bench/api-credentials.mjs" "$work" > "$work/credentials.out" 2>&1 || die "bench/api-credentials.mjs failed: $(cat "$work/credentials.out")"
jwks="$(cat "$work/jwks.json")"; token="$(cat "$work/token.jwt")"

# --- Weft: control plane, config, gateway (CPU 1)
gw_port="$(free_port)"
start_control_plane "$work/cp" --cpus 1 || die "the control plane did not start"
config_yaml() {
  cat <<EOF
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bench }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  endpoints: [{ address: 127.0.0.1, port: $up_port }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: http, port: $gw_port, protocol: HTTP }]
---
$(api_policies_yaml)
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [api.bench]
  rules:
    - filters:
$(api_filters_yaml)
      backendRefs: [{ name: bench, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: plain }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [plain.bench]
  rules:
    - backendRefs: [{ name: bench, port: 8080 }]
EOF
}
# The api rule's policies: a JwtPolicy with the key set inline, an ApiKeyPolicy for the bench
# consumer, and a global per-consumer limit far above the load (every request runs the script).
api_policies_yaml() {
  cat <<EOF
apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: bench-jwt }
spec:
  providers:
    - name: bench
      issuer: https://issuer.bench
      audiences: [bench-api]
      localJwks: '$jwks'
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: bench-keys }
spec:
  consumers: { all: true }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: bench-limit }
spec:
  redis: { address: "127.0.0.1:$redis_port", timeout: 100ms }
  failMode: closed
  rules:
    - { name: per-consumer, descriptor: [consumer], requests: 1000000000, unit: minute }
EOF
}
api_filters_yaml() {
  local k
  for k in JwtPolicy:bench-jwt ApiKeyPolicy:bench-keys RateLimitPolicy:bench-limit; do
    echo "        - { type: ExtensionRef, extensionRef: { group: weft.dev, kind: ${k%%:*}, name: ${k#*:} } }"
  done
}
# issue_key: creates the consumer and prints its new key (weft key issue prints it once).
issue_key() {
  weft consumer create bench-consumer --plan bench > "$work/consumer.out" 2>&1 || { cat "$work/consumer.out" >&2; return 1; }
  weft key issue bench-consumer 2> "$work/key.err" | tail -1
}
config_yaml | weft apply -f - > "$work/apply.out" 2>&1 || die "weft apply failed: $(cat "$work/apply.out")"
api_key="$(issue_key)" || die "could not issue the API key"
token_file="$work/gw.token"
weft token create --service edge > "$token_file" 2> "$work/token.out" || die "weft token create failed: $(cat "$work/token.out")"
WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" gateway --gateway default/edge --control-plane "$xds" --token-file "$token_file" \
  --listen-address 127.0.0.1 --admin-port 0 --drain-delay 0ms --drain-timeout 2s > "$work/gateway.out" 2>&1 & gw_pid=$!; pids+=("$gw_pid")

ROWS="plain api"
host_of() { echo "$1.bench"; }
# The api route's headers; the plain route gets the same bytes under names nothing reads, so both
# rows parse requests of one size.
hdr_args() {
  printf '%s\n' -H "Host: $(host_of "$1")"
  if [ "$1" = api ]; then printf '%s\n' -H "Authorization: Bearer $token" -H "x-api-key: $api_key"
  else printf '%s\n' -H "X-Bench-A: Bearer $token" -H "X-Bench-B: $api_key"; fi
}
url_of() { echo "http://127.0.0.1:$gw_port/"; }
for r in $ROWS; do
  mapfile -t H < <(hdr_args "$r")
  wait_http 30 "$(url_of "$r")" "${H[@]}" || fail "$r" "the gateway did not answer 200 for $(host_of "$r") (last answer '${http_last:-none}')"
done
# The api route must refuse what it should, or the row would not measure the policies.
if [ -z "${F[api]:-}" ]; then
  s="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: api.bench" -H "x-api-key: $api_key" "$(url_of api)")"; [ "$s" = 401 ] || fail api "a request without a token got $s, not 401: the JwtPolicy does not run"
  s="$(curl -s -o /dev/null -w '%{http_code}' -H "Host: api.bench" -H "Authorization: Bearer $token" "$(url_of api)")"; [ "$s" = 401 ] || fail api "a request without a key got $s, not 401: the ApiKeyPolicy does not run"
fi

declare -A R=()   # R[row.round]: "rps cpu_gw cpu_gw_redis p50 p99"
declare -A MISSED=()
run() {
  local row=$1 rc=0 v b a rb ra reqs rps p50 p99 url cpu cpur
  url="$(url_of "$row")"; mapfile -t H < <(hdr_args "$row")
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${H[@]}" "$url" > /dev/null 2>&1 || true
  b=$(cpu_ticks "$gw_pid"); rb=$(cpu_ticks "$redis_pid")
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" "${H[@]}" "$url" > "$work/$row.$round.sat.txt" 2>&1 || rc=$?
  a=$(cpu_ticks "$gw_pid"); ra=$(cpu_ticks "$redis_pid")
  alive "$row" "$gw_pid" "$up_pid" "$redis_pid" || return 1
  v="$(node "$root/bench/wrk-verdict.mjs" --exit "$rc" "$work/$row.$round.sat.txt")" || { fail "$row" "saturation run: ${v#FAILED }"; return 1; }
  read -r _ reqs rps _ _ <<< "$v"
  cpu="$(cpu_us_per_req "$b" "$a" "$reqs")"; cpur="$(cpu_us_per_req "$((b + rb))" "$((a + ra))" "$reqs")"
  rc=0
  taskset -c 0 wrk -t1 -c"$LAT_CONNS" -d"${LAT_DURATION}s" --latency "${H[@]}" -s "$root/bench/proxy/wrk/paced.lua" "$url" -- "$LAT_RATE" 1 > "$work/$row.$round.lat.txt" 2>&1 || rc=$?
  alive "$row" "$gw_pid" "$up_pid" "$redis_pid" || return 1
  v="$(node "$root/bench/wrk-verdict.mjs" --percentiles --exit "$rc" "$work/$row.$round.lat.txt")" || { fail "$row" "fixed-rate run: ${v#FAILED }"; return 1; }
  local lrps; read -r _ _ lrps p50 p99 <<< "$v"
  [ $((lrps * 100)) -ge $((LAT_RATE * 85)) ] || MISSED[$row]="${MISSED[$row]:+${MISSED[$row]}, }round $round: $lrps of $LAT_RATE/s"
  R[$row.$round]="$rps $cpu $cpur $p50 $p99"
  echo "$me: round $round $row: $rps req/s, $cpu us CPU/req (gateway), $cpur (gateway + Redis); at $LAT_RATE req/s p50 $p50 ms p99 $p99 ms" >&2
}
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "$me: rounds=$ROUNDS; about $((ROUNDS * 2 * (WARMUP + DURATION + LAT_DURATION)))s" >&2
for round in $(seq "$ROUNDS"); do
  order="$ROWS"; [ $((round % 2)) = 0 ] && order="api plain"
  for row in $order; do [ -n "${F[$row]:-}" ] || run "$row" || true; done
done
unset round
# The limit counted the api requests in Redis: the policies ran on every request.
med() { local r; for r in $(seq "$ROUNDS"); do [ -n "${R[$1.$r]:-}" ] && echo "${R[$1.$r]}" | awk -v f="$2" '{print $f}'; done | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a != "-" && b != "-" && b + 0 > 0) printf "%.2f", a/b; else printf "-" }'; }
fmt() { awk -v d="$1" -v v="$2" 'BEGIN{ if (v == "-" || v == "") print "-"; else printf "%.*f\n", d, v }'; }
{
  echo "API gateway: weft gateway hop with JWT (ES256) + API key + global rate limit (Redis) vs the same gateway's plain hop, HTTP/1.1 keep-alive, $(nproc) cores"
  echo "client on CPU 0; gateway, upstream and redis-server on CPU 1; rounds=$ROUNDS (medians); saturation wrk -t1 -c$CONNS -d${DURATION}s; fixed rate wrk -c$LAT_CONNS at $LAT_RATE req/s for ${LAT_DURATION}s"
  printf '%-28s | %8s %10s %12s %8s %8s\n' route "r/s" "cpu_us gw" "cpu_us +redis" p50_ms p99_ms
  for row in $ROWS; do
    if [ -n "${F[$row]:-}" ]; then printf '%-28s | FAILED: %s\n' "$row" "${F[$row]}"; continue; fi
    printf '%-28s | %8s %10s %12s %8s %8s\n' "$([ "$row" = api ] && echo 'api (jwt + key + limit)' || echo plain)" "$(fmt 0 "$(med "$row" 1)")" "$(fmt 1 "$(med "$row" 2)")" "$(fmt 1 "$(med "$row" 3)")" "$(fmt 2 "$(med "$row" 4)")" "$(fmt 2 "$(med "$row" 5)")"
  done
  if [ -z "${F[api]:-}${F[plain]:-}" ]; then
    cx=$(ratio "$(med api 2)" "$(med plain 2)"); crx=$(ratio "$(med api 3)" "$(med plain 3)"); px=$(ratio "$(med api 5)" "$(med plain 5)"); tx=$(ratio "$(med api 1)" "$(med plain 1)")
    echo "api/plain: cpu x $cx (gateway), $crx (gateway + Redis); p99 x $px; throughput x $tx; aim: gateway CPU within ${AIM}x: $(awk -v c="$cx" -v a="$AIM" 'BEGIN{print (c != "-" && c + 0 <= a) ? "yes" : "no"}')"
  fi
  for row in $ROWS; do [ -z "${MISSED[$row]:-}" ] || echo "note: $row: fixed-rate run more than 15 % short of its rate (${MISSED[$row]}): its p99 is from a lower rate"; done
  echo "load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after (2 cores: much above 0.5 means other work ran)"
} | tee "$out"
{
  num() { [ "$1" = - ] && echo null || echo "$1"; }
  side() { if [ -n "${F[$1]:-}" ]; then printf '{ "failed": %s }' "$(json_str "${F[$1]}")"; else printf '{ "rps": %s, "cpuUsPerReq": %s, "cpuUsPerReqWithRedis": %s, "p50Ms": %s, "p99Ms": %s }' "$(num "$(med "$1" 1)")" "$(num "$(med "$1" 2)")" "$(num "$(med "$1" 3)")" "$(num "$(med "$1" 4)")" "$(num "$(med "$1" 5)")"; fi; }
  printf '{\n  "at": "%s",\n  "config": { "rounds": %s, "durationS": %s, "latDurationS": %s, "conns": %s, "latConns": %s, "latRate": %s, "aim": %s, "cores": %s },\n  "plain": %s,\n  "api": %s\n}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$ROUNDS" "$DURATION" "$LAT_DURATION" "$CONNS" "$LAT_CONNS" "$LAT_RATE" "$AIM" "$(nproc)" "$(side plain)" "$(side api)"
} > "${out%.txt}.json"
exit_if_failed
