#!/usr/bin/env bash
# `make bench`: every benchmark in one go; raw results under bench/results/.
#   1. xDS convergence: how long the control plane takes to push a change to N ADS clients.
#      xDS replicas: the same with 3 control-plane replicas on a real 3-member etcd cluster and
#      1,000 simulated proxies per replica, against one replica on etcd with 1,000 (and the file store).
#   2. The proxy table (bench/proxy, a copy of ../shared/bench): direct, nginx, HAProxy and Node
#      proxies, and one Weft sidecar hop (bench/weft-single-hop.sh), all measured in this run;
#      /dir and /ngx columns are ratios against the direct and nginx rows.
#   2b. gRPC through one hop (bench/weft-grpc.sh): h2load against a grpc-js upstream direct, through
#      nginx (grpc_pass), Caddy (h2c) and one Weft sidecar: calls/s, proxy CPU per call (unary -m1,
#      multiplexed, per message of a 100-message stream), fixed-rate p50/p99; /nginx and /direct ratios.
#   2c. Fixed-rate tail, pooled (bench/weft-tail.sh): nginx, one Weft hop and the Node floor (a
#      featureless proxy on the same parser binding) at the proxy table's fixed rate, 8 interleaved
#      rounds each, every request of a target pooled into one p99 (a 5-second run's p99 moves 2-4x
#      on this machine); weft/nginx pooled p99 against a 1.5x aim.
#   3. Two-hop mesh (bench/weft-two-hop.sh): plaintext and mTLS between two sidecars vs direct.
#   4. Sidecar footprint (bench/weft-footprint.sh): RSS idle and with 1,000 services x 10 endpoints,
#      against the issue 7 targets; time from spawning a sidecar to ready and to its first 200.
#   5. Transcoding (bench/weft-transcode.sh): CPU per HTTP/JSON (and gRPC-Web) request translated by
#      a sidecar, against the same sidecar proxying plain gRPC.
#   6. Edge gateway scaling (bench/weft-workers.sh): req/s and CPU per request of one sidecar with
#      --workers 1 and 2 (and both cluster scheduling policies); the scaling ratio.
#   7. Edge against nginx (bench/weft-edge.sh): weft gateway and nginx terminating HTTPS in front of
#      the same upstream: new and resumed TLS connections, keep-alive https/1.1 and h2, gzip and
#      cache hits; CPU per request and fixed-rate p99 as Weft/nginx ratios against a 2.5x aim.
#   8. API gateway (bench/weft-api.sh): a gateway hop with JWT + API key + a global rate limit in
#      Redis against the same gateway's plain hop: CPU per request and fixed-rate p99, against a 1.3x aim.
#   9. TCP (bench/weft-tcp.sh): redis-benchmark to Redis direct, through HAProxy in TCP mode and
#      through two Weft sidecars with mTLS (a Service's `upstreams` local port): requests/s and
#      proxy CPU per operation, with ratios against direct and HAProxy.
#  10. Dashboard (bench/dashboard.bench.ts): load time of each view in headless Chromium with 200
#      services, 2,000 simulated proxies and 398 reported edges, against the 1 s aim (median).
#   Then bench/report.mjs gathers everything into bench/results/summary.json and latency.svg.
# No numbers for a failing target: a row whose target answered errors, died, or did not start is
# printed as FAILED with the reason, a scenario script that fails does not stop the others, and
# this run exits non-zero when anything FAILED (report.mjs decides, from this run's files only:
# the previous run's are deleted first, and run.json marks when this run started).
# BASELINE_REF=<git ref>: the proxy tables also measure the sidecar built at that ref (row
# "weft-base", bench/baseline.sh) and print the current/baseline CPU per request, same run, and
# bench/hop-instructions.sh counts instructions per request of both under callgrind (a count,
# not a time: it holds on a busy machine where CPU-time ratios move by 30 %).
# Knobs: ROUNDS (default 3: medians and a spread column; the 16 KiB table: ROUNDS_16K, default 1, to stay near 15 minutes), DURATION/LAT_DURATION/WARMUP (5/5/2 s), BENCH_PATH (/ or /16k, for the first table; a second table always runs /16k), SKIP_PROXY=1
# (skip the proxy table), SCENARIOS (default "xdsConvergence xdsReplicas filterChain proxy proxy16k tail grpc twoHop footprint
# transcode workers edge api tcp": run only these, e.g. SCENARIOS=twoHop MODES= TRACING_ROWS= UPSTREAM_STATUS=503 to watch a
# row against a target answering 503 come out FAILED). Every scenario and its own knobs: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# Every measurement is repeated (medians with the spread) and the whole run stays near 15 minutes
# on 2 cores: 3 rounds of shorter runs. Set any of these to override (e.g. ROUNDS=1 for a quick look).
export ROUNDS="${ROUNDS:-3}" DURATION="${DURATION:-5}" LAT_DURATION="${LAT_DURATION:-5}" WARMUP="${WARMUP:-2}"
SECONDS=0
res=bench/results
mkdir -p "$res"
# An earlier run's files must never be read as this run's: delete them, and stamp this run's start
# (the proxy table's <stamp>/ folders are kept as history; report.mjs ignores the ones older than this).
rm -f "$res"/{grpc,tail,two-hop,transcode,footprint,workers,edge,api,tcp,xds-convergence,xds-replicas,filter-chain,dashboard}.{txt,json} "$res"/{summary.json,latency.svg,run-status.tsv}
all="xdsConvergence xdsReplicas filterChain proxy proxy16k tail grpc twoHop footprint transcode workers edge api tcp dashboard"
SCENARIOS=" ${SCENARIOS:-$all} "; [ "${SKIP_PROXY:-0}" = 1 ] && SCENARIOS="${SCENARIOS/ proxy16k / }" && SCENARIOS="${SCENARIOS/ proxy / }"
wanted() { [[ "$SCENARIOS" == *" $1 "* ]]; }
skipped=''; for k in $all; do wanted "$k" || skipped+="${skipped:+, }\"$k\""; done; skipped="[$skipped]"
printf '{ "runId": "%s", "startedAt": "%s", "skipped": %s }\n' "$(date -u +%Y%m%d-%H%M%S)-$$" "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" "$skipped" > "$res/run.json"
# scenario NAME CMD...: runs one scenario; a failure is recorded (run-status.tsv) and the run goes on.
scenario() {
  local name=$1 rc=0; shift
  wanted "$name" || { echo "(skipped: $name)"; return 0; }
  "$@" || rc=$?
  printf '%s\t%s\n' "$name" "$rc" >> "$res/run-status.tsv"
  [ "$rc" = 0 ] || echo "make bench: $name exited $rc; its failing rows are listed in the summary" >&2
}
echo "== xDS convergence (control plane)"
scenario xdsConvergence bash -c "set -o pipefail; npx vitest run --config bench/vitest.config.ts bench/xds-convergence.bench.ts --silent=false 2>&1 | sed -n '/^xDS convergence/,/^(/p'"
echo "== xDS convergence with control-plane replicas on etcd (3 x 1,000 simulated proxies against 1 x 1,000)"
scenario xdsReplicas bash -c "set -o pipefail; npx vitest run --config bench/vitest.config.ts bench/xds-replicas.bench.ts --silent=false 2>&1 | sed -n '/^xDS replicas/,/^(/p'"
echo "== HTTP filter chain cost (in process)"
scenario filterChain bash -c "set -o pipefail; npx vitest run --config bench/vitest.config.ts bench/filter-chain.bench.ts --silent=false 2>&1 | sed -n '/^HTTP filter chain cost/,/Origin allowed/p' | tee bench/results/filter-chain.txt"
{ wanted proxy || wanted proxy16k || wanted tail || wanted grpc || wanted edge; } && bash bench/proxy/setup.sh   # wrk, h2load, nginx, haproxy, the Node peers (idempotent)
weft_rows=(weft=http://127.0.0.1:19010 --start weft="bash $PWD/bench/weft-single-hop.sh")
if [ -n "${BASELINE_REF:-}" ]; then
  base_root="$(bash bench/baseline.sh "$BASELINE_REF")"
  weft_rows+=(weft-base=http://127.0.0.1:19011 --start weft-base="WEFT_ROOT=$base_root bash $PWD/bench/weft-single-hop.sh")
fi
if wanted proxy || wanted proxy16k; then
  echo
  echo "== proxy table: one Weft sidecar hop against direct, nginx, HAProxy, Caddy and Node peers${BASELINE_REF:+ (weft-base: $BASELINE_REF)}"
  scenario proxy env RESULTS_DIR="$PWD/bench/results" bash bench/proxy/run.sh "${weft_rows[@]}"
  if [ -n "${BASELINE_REF:-}" ] && wanted proxy; then
    node bench/baseline-ratio.mjs bench/results || true
    echo "== instructions per request through one hop (callgrind: the same count whatever else the machine does), against $BASELINE_REF"
    bash bench/hop-instructions.sh "$BASELINE_REF" | grep -v '^sending command' | tee bench/results/hop-instructions.txt
  fi
  echo
  echo "== proxy table, 16 KiB response body (results under bench/results/16k/)"
  mkdir -p bench/results/16k
  scenario proxy16k env RESULTS_DIR="$PWD/bench/results/16k" BENCH_PATH=/16k ROUNDS="${ROUNDS_16K:-1}" bash bench/proxy/run.sh "${weft_rows[@]}"
fi
echo
echo "== fixed-rate tail, pooled: nginx, one Weft hop and the Node floor at ${LAT_RATE:-2000} req/s, interleaved rounds, every request of a target in one p99"
scenario tail env ${base_root:+WEFT_BASE_ROOT="$base_root"} bash bench/weft-tail.sh
echo
echo "== gRPC, one hop: h2load -> direct | nginx grpc_pass | Caddy h2c | Weft sidecar -> grpc-js upstream"
scenario grpc env ROUNDS="${ROUNDS:-1}" ${base_root:+WEFT_BASE_ROOT="$base_root"} bash bench/weft-grpc.sh   # BASELINE_REF: a weft-base row too
echo
echo "== two-hop mesh: app -> sidecar -> (plaintext | mTLS) -> sidecar -> app, against direct"
scenario twoHop env ROUNDS="${ROUNDS:-1}" bash bench/weft-two-hop.sh
echo
echo "== sidecar footprint: RSS idle and with 1,000 services x 10 endpoints; start to ready and to first 200"
scenario footprint bash bench/weft-footprint.sh
echo
echo "== transcoding: HTTP/JSON and gRPC-Web -> gRPC in the sidecar, against plain gRPC proxying"
scenario transcode env ROUNDS="${ROUNDS:-1}" bash bench/weft-transcode.sh
echo
echo "== edge gateway scaling: weft sidecar --workers 1 and 2 (2 cores: wrk, the upstream and the workers share them)"
scenario workers bash bench/weft-workers.sh
echo
echo "== edge: weft gateway against nginx (worker_processes 1) over HTTPS: handshakes, keep-alive, gzip, cache hits"
scenario edge env ROUNDS="${ROUNDS:-1}" bash bench/weft-edge.sh
echo
echo "== API gateway: a gateway hop with JWT + API key + global rate limit against the plain hop"
scenario api env ROUNDS="${ROUNDS:-1}" bash bench/weft-api.sh
echo
echo "== TCP: redis-benchmark to Redis direct, through HAProxy (mode tcp) and through two Weft sidecars with mTLS"
scenario tcp env ROUNDS="${ROUNDS:-1}" bash bench/weft-tcp.sh
echo
echo "== Dashboard: each view's load time with 200 services, 2,000 simulated proxies and 398 edges"
scenario dashboard bash -c "set -o pipefail; npx vitest run --config bench/vitest.config.ts bench/dashboard.bench.ts --silent=false 2>&1 | sed -n '/^Dashboard load/,/^(/p'"
echo
echo "== summary"
rc=0
node bench/report.mjs || rc=$?
echo "make bench: ${SECONDS}s$([ "$rc" = 0 ] || echo ", exit $rc: a row FAILED (see above)")"
exit "$rc"

