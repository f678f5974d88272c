#!/usr/bin/env bash
# Transcoding benchmark (issue 6): CPU per request in the sidecar that transcodes HTTP/JSON to
# gRPC, against the same sidecar proxying plain gRPC, on the same method.
#   client -> sidecar A (outbound, "web") -> mTLS h2 -> sidecar B (inbound, "bookstore") -> grpc-js bookstore
# Sidecar B holds the GRPCTranslation (jsonToGrpc) for bookstore.Bookstore; every row crosses the
# same two sidecars and reaches the same gRPC app, so B's CPU difference is the cost of translating.
#   gRPC      h2load -c50 -m1, POST /bookstore.Bookstore/GetShelf, a 7-byte gRPC frame {shelf: 1}
#   JSON GET  wrk -c50, GET /v1/shelves/1 (path template, int64 from the path; reply as JSON)
#   JSON POST wrk -c50, POST /v1/shelves/1/books with a JSON book (body: "book"; int64, enum, Timestamp and wrapper fields)
#   gRPC-Web  h2load -c50 -m1, POST /bookstore.Bookstore/GetShelf as application/grpc-web+proto
#   gRPC stream    h2load -c50 -m1, StreamBooks {shelf: 1, page_size: 100}: 100 messages per call
#   NDJSON stream  wrk -c50, GET /v1/shelves/1/books:stream?page_size=100: the same 100, as JSON lines
# (streaming rows: CPU per call; per message is that / 100)
# CPU = user+sys ticks of each process over the run / requests completed. Load generators on CPU 0,
# everything else on CPU 1. Knobs: DURATION (8) ROUNDS (1; median of the rounds), ROWS (grpc get post
# grpcweb), HOLD=SECONDS (keep the mesh up that long before the rows, for poking at it by hand),
# RESULTS_DIR (bench/results).
# A row whose runs saw any error is printed as FAILED with the reason, never with numbers, and the
# script exits 1 after writing both files: non-2xx, socket errors, h2load failed/errored requests
# (bench/wrk-verdict.mjs), a grpc-status other than 0 on the row's own call right before and right
# after each run (h2load counts an HTTP 200 carrying grpc-status 14 as a success and cannot read
# trailers), or a process on the path that died during the run.
# Writes RESULTS_DIR/transcode.txt (the table) and transcode.json (the same figures, and every round).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION=${DURATION:-8}; ROUNDS=${ROUNDS:-1}; A_PORT=${A_PORT:-19201}
me=weft-transcode
# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
results_file transcode
make_work 40 '*.out'
need_bins wrk h2load taskset curl

# Descriptor set for the app (the control plane gets its own copy through `weft apply`).
mkdir -p "$work/proto/google/api"
cp "$root/test/fixtures/bookstore/bookstore.proto" "$work/proto/"
cp "$root"/node_modules/@grpc/grpc-js-xds/deps/googleapis/google/api/{annotations,http}.proto "$work/proto/google/api/"
(cd "$work/proto" && "$root/node_modules/.bin/buf" build . -o "$work/bookstore.binpb")

start_control_plane "$work" --cpus 1
cat > "$work/mesh.yaml" <<'EOF'
apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: STRICT }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bookstore }
spec:
  ports: [{ name: grpc, port: 9090, protocol: grpc }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: bookstore-json }
spec:
  service: bookstore
  protoServices: [bookstore.Bookstore]
  descriptorSetFile: bookstore.binpb
EOF
weft apply -f "$work/mesh.yaml" > /dev/null

DESCRIPTOR_SET="$work/bookstore.binpb" taskset -c 1 node "$root/test/harness/bookstore-server.mjs" 0 > "$work/app.out" 2>&1 & app_pid=$!; pids+=($app_pid)
until_ok 10 grep -qs listening "$work/app.out" || die "the bookstore app did not start"
app_port="$(awk '/listening/{print $2}' "$work/app.out")"
WEFT_JOIN_TOKEN="$(weft token create --service bookstore 2>/dev/null)" WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" sidecar \
  --service bookstore --app-port "$app_port" --app-protocol grpc --control-plane "$xds" \
  --inbound-port 0 --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 > "$work/b.out" 2>&1 & sb_pid=$!; pids+=($sb_pid)
WEFT_JOIN_TOKEN="$(weft token create --service web 2>/dev/null)" WEFT_LOG_LEVEL=warn taskset -c 1 node "$root/bin/weft.js" sidecar \
  --service web --app-port 1 --control-plane "$xds" \
  --inbound-port 0 --inbound-address 127.0.0.1 --outbound-port "$A_PORT" --admin-port 0 > "$work/a.out" 2>&1 & sa_pid=$!; pids+=($sa_pid)
url="http://127.0.0.1:$A_PORT"
wait_http 20 "$url/v1/shelves/1" -H 'Host: bookstore' || true   # the check below says what it answers
got="$(curl -s -H 'Host: bookstore' "$url/v1/shelves/1")"
[ "$got" = '{"id":"1","theme":"science fiction"}' ] || die "JSON GET answered '$got'"

# Request bodies: a gRPC frame (flag 0, length 2, field 1 varint 1) and a JSON book.
printf '\x00\x00\x00\x00\x02\x08\x01' > "$work/getshelf.grpc"
printf '\x00\x00\x00\x00\x04\x08\x01\x10\x64' > "$work/stream100.grpc"
printf '{"title":"Dune","author":"Herbert","isbn":"9780441013593","genre":"FICTION","published":"1965-08-01T00:00:00Z","pages":412}' > "$work/book.json"
cat > "$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("$work/book.json"):read("*a")
EOF
# Check the non-JSON rows answer OK before timing them (h2load counts any HTTP 200 as success).
h2check() { # content-type -> grpc-status seen
  curl -s --http2-prior-knowledge -o /dev/null -D - -H 'Host: bookstore' -H "content-type: $1" -H 'te: trailers' \
    --data-binary @"$work/getshelf.grpc" "$url/bookstore.Bookstore/GetShelf" | tr -d '\r' | awk -F': ' '/^grpc-status/{print $2}'
}
[ "$(h2check application/grpc)" = 0 ] || die "gRPC GetShelf did not answer grpc-status 0"
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: bookstore' -H 'Content-Type: application/json' -d @"$work/book.json" "$url/v1/shelves/1/books")" = 200 ] \
  || die "JSON POST failed"

declare -A R   # R[row,round]: "req/s cpuA cpuB cpuApp"; F[row] (lib.sh): why the row FAILED
# grpc_status ROW: the grpc-status one call of the row's own shape gets (gRPC: from the trailers;
# gRPC-Web: from the trailer frame in the body); "-" for the HTTP/JSON rows, which wrk checks.
grpc_status() {
  case "$1" in
    grpc|stream)
      curl -s --http2-prior-knowledge --max-time 10 -o /dev/null -D - -H 'Host: bookstore' -H 'content-type: application/grpc' -H 'te: trailers' \
        --data-binary @"$work/$([ "$1" = stream ] && echo stream100 || echo getshelf).grpc" \
        "$url/bookstore.Bookstore/$([ "$1" = stream ] && echo StreamBooks || echo GetShelf)" | tr -d '\r' | awk -F': ' '/^grpc-status/{print $2}' ;;
    grpcweb)
      curl -s --http2-prior-knowledge --max-time 10 -D - -H 'Host: bookstore' -H 'content-type: application/grpc-web+proto' -H 'x-grpc-web: 1' \
        --data-binary @"$work/getshelf.grpc" "$url/bookstore.Bookstore/GetShelf" | grep -aoi 'grpc-status: *[0-9]*' | head -1 | tr -dc 0-9 ;;
    *) echo - ;;
  esac
}
run() { # row -> sets OUT="req/s cpuA cpuB cpuApp", or records the row as FAILED and returns 1
  local row=$1 before=() p rc=0 st
  st="$(grpc_status "$row" || true)"
  [ "$st" = 0 ] || [ "$st" = - ] || { fail "$row" "grpc-status '${st:-none}' before the run, want 0"; return 1; }
  for p in "$sa_pid" "$sb_pid" "$app_pid"; do before+=("$(cpu_ticks "$p")"); done
  case "$row" in
    grpc) taskset -c 0 h2load -c50 -m1 -t1 -D "$DURATION" -d "$work/getshelf.grpc" -H ':authority: bookstore' \
            -H 'content-type: application/grpc' -H 'te: trailers' "$url/bookstore.Bookstore/GetShelf" > "$work/load.txt" 2>&1 ;;
    grpcweb) taskset -c 0 h2load -c50 -m1 -t1 -D "$DURATION" -d "$work/getshelf.grpc" -H ':authority: bookstore' \
            -H 'content-type: application/grpc-web+proto' -H 'x-grpc-web: 1' "$url/bookstore.Bookstore/GetShelf" > "$work/load.txt" 2>&1 ;;
    stream) taskset -c 0 h2load -c50 -m1 -t1 -D "$DURATION" -d "$work/stream100.grpc" -H ':authority: bookstore' \
            -H 'content-type: application/grpc' -H 'te: trailers' "$url/bookstore.Bookstore/StreamBooks" > "$work/load.txt" 2>&1 ;;
    ndjson) taskset -c 0 wrk -t1 -c50 -d"${DURATION}s" -H 'Host: bookstore' "$url/v1/shelves/1/books:stream?page_size=100" > "$work/load.txt" 2>&1 ;;
    get) taskset -c 0 wrk -t1 -c50 -d"${DURATION}s" -H 'Host: bookstore' "$url/v1/shelves/1" > "$work/load.txt" 2>&1 ;;
    post) taskset -c 0 wrk -t1 -c50 -d"${DURATION}s" -H 'Host: bookstore' -s "$work/post.lua" "$url/v1/shelves/1/books" > "$work/load.txt" 2>&1 ;;
  esac || rc=$?
  alive "$row" "$sa_pid" "$sb_pid" "$app_pid" "$cp_pid" || return 1
  local v reqs
  v="$(node "$root/bench/wrk-verdict.mjs" --exit "$rc" $(case "$row" in grpc|grpcweb|stream) echo --h2load ;; esac) "$work/load.txt")" \
    || { fail "$row" "${v#FAILED }"; cat "$work/load.txt" >&2; return 1; }
  read -r _ reqs _ _ _ <<< "$v"
  st="$(grpc_status "$row" || true)"
  [ "$st" = 0 ] || [ "$st" = - ] || { fail "$row" "grpc-status '${st:-none}' right after the run, want 0"; return 1; }
  OUT="$(awk -v n="$reqs" -v d="$DURATION" 'BEGIN{printf "%d", n/d}')"
  local i=0; for p in "$sa_pid" "$sb_pid" "$app_pid"; do
    OUT="$OUT $(cpu_us_per_req "${before[$i]}" "$(cpu_ticks "$p")" "$reqs")"; i=$((i+1)); done
}

rows="${ROWS:-grpc get post grpcweb stream ndjson}"
if [ -n "${HOLD:-}" ]; then echo "holding: $url pids A=$sa_pid B=$sb_pid work=$work"; sleep "$HOLD"; fi
# Warm every path once (JIT, connection pools) before the timed rounds; a row failing here is FAILED too.
round=warm-up
for row in $rows; do DURATION=2 run "$row" || true; done
for round in $(seq "$ROUNDS"); do
  for row in $rows; do
    if [ -z "${F[$row]:-}" ] && run "$row"; then R[$row,$round]="$OUT"; fi
  done
done

spread() { sort -g | awk '{a[NR]=$1} END{ if (NR<2) print "-"; else printf "%.1f", a[NR]-a[1] }'; }
col() { for r in $(seq "$ROUNDS"); do echo "${R[$1,$r]:-}" | awk -v c="$2" '{print $c}'; done | "${3:-median}"; }
row_name() {
  case "$1" in
    grpc) echo "gRPC GetShelf (h2load)" ;; get) echo "JSON GET /v1/shelves/1 (wrk)" ;;
    post) echo "JSON POST /v1/shelves/1/books (wrk)" ;; grpcweb) echo "gRPC-Web GetShelf (h2load)" ;;
    stream) echo "gRPC StreamBooks x100 (h2load)" ;; ndjson) echo "NDJSON books:stream x100 (wrk)" ;;
  esac
}
# What a row's translating sidecar is compared with: the plain gRPC call of the same shape.
base_of() { case "$1" in stream|ndjson) echo stream ;; *) echo grpc ;; esac; }
{
  echo "Transcoding: client -> sidecar A -> mTLS -> sidecar B (GRPCTranslation) -> grpc-js bookstore; -c50 for ${DURATION}s, median of $ROUNDS round(s)"
  echo "CPU = user+sys per request (streaming rows: per call of 100 messages); B is the sidecar that translates; 'B vs gRPC' is B's CPU against the plain gRPC row of the same shape"
  printf '%-40s %9s %12s %12s %14s %10s %12s\n' request req/s cpu_A_us/req cpu_B_us/req cpu_app_us/req 'B vs gRPC' B_spread_us
  for row in $rows; do
    name="$(row_name "$row")"
    if [ -n "${F[$row]:-}" ]; then printf '%-40s FAILED: %s\n' "$name" "${F[$row]}"; continue; fi
    b=$(col "$row" 3)
    base=$(col "$(base_of "$row")" 3)
    printf '%-40s %9s %12s %12s %14s %10s %12s\n' "$name" "$(col "$row" 1)" "$(col "$row" 2)" "$b" "$(col "$row" 4)" \
      "$(awk -v a="$b" -v z="$base" 'BEGIN{ if (z + 0 > 0) printf "%.2fx", a/z; else printf "-" }')" "$(col "$row" 3 spread)"
  done
} | tee "$out"
# The same numbers, machine-readable (bench/report.mjs): the medians above and every round.
{
  printf '{\n  "at": "%s",\n  "config": { "durationS": %s, "rounds": %s, "connections": 50 },\n  "rows": [' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$DURATION" "$ROUNDS"
  sep=''
  for row in $rows; do
    rounds=''
    if [ -n "${F[$row]:-}" ]; then   # a FAILED row carries its reason and no figures
      printf '%s\n    { "key": "%s", "name": "%s", "failed": %s, "rps": null, "cpuAUsPerReq": null, "cpuBUsPerReq": null, "cpuAppUsPerReq": null, "cpuBVsGrpc": null, "cpuBSpreadUs": null, "rounds": [] }' \
        "$sep" "$row" "$(row_name "$row")" "$(json_str "${F[$row]}")"
      sep=,; continue
    fi
    for r in $(seq "$ROUNDS"); do
      read -r a b c d <<< "${R[$row,$r]}"
      rounds+="${rounds:+, }{ \"rps\": $a, \"cpuAUsPerReq\": $b, \"cpuBUsPerReq\": $c, \"cpuAppUsPerReq\": $d }"
    done
    b=$(col "$row" 3); spread=$(col "$row" 3 spread)
    printf '%s\n    { "key": "%s", "name": "%s", "rps": %s, "cpuAUsPerReq": %s, "cpuBUsPerReq": %s, "cpuAppUsPerReq": %s, "cpuBVsGrpc": %s, "cpuBSpreadUs": %s, "rounds": [%s] }' \
      "$sep" "$row" "$(row_name "$row")" "$(col "$row" 1)" "$(col "$row" 2)" "$b" "$(col "$row" 4)" \
      "$(awk -v a="$b" -v z="$(col "$(base_of "$row")" 3)" 'BEGIN{ if (z + 0 > 0) printf "%.2f", a/z; else printf "null" }')" "$([ "$spread" = - ] && echo null || echo "$spread")" "$rounds"
    sep=,
  done
  printf '\n  ]\n}\n'
} > "${out%.txt}.json"
exit_if_failed
