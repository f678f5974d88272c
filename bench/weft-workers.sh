#!/usr/bin/env bash
# Scenario (g): `weft sidecar --workers N` scaling for edge use. One sidecar (inbound listener,
# plaintext allowed) in front of an nginx upstream that answers 64 B from memory (so the upstream
# is never the limit), driven by wrk at saturation; for N = 1 and N = 2 workers it reports
# requests/s, CPU per request summed over every sidecar process (primary included) and the
# scaling ratio. On a 2-core machine wrk, nginx and the workers share the cores (wrk and nginx
# are pinned to core 0, the workers float), so 2 workers cannot reach 2x here: the ratio shows
# what a second core buys on this box, not the ceiling.
# Knobs: DUR (seconds per run, default 8), CONNS (wrk connections, default 64), WORKERS ("1 2").
# Writes bench/results/workers.txt and workers.json.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/bench/results"; mkdir -p "$out"
DUR=${DUR:-8}; CONNS=${CONNS:-64}; WORKERS=${WORKERS:-"1 2"}
work="$(mktemp -d)"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$work/cp.pid" ] && kill "$(cat "$work/cp.pid")" 2>/dev/null; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
up_port=$(free_port)
cat > "$work/nginx.conf" <<NGX
worker_processes 1; daemon on; pid $work/nginx.pid; error_log $work/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$up_port; location / { return 200 "$(printf 'x%.0s' $(seq 64))"; } } }
NGX
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf"
( setsid node "$root/bin/weft.js" control-plane --data-dir "$work/data" --xds-address 127.0.0.1:0 --admin-address 127.0.0.1:0 --otlp-address off --log-level warn > "$work/cp.out" 2>&1 & echo $! > "$work/cp.pid" )
for _ in $(seq 100); do grep -q ready "$work/cp.out" 2>/dev/null && break; sleep 0.1; done
xds="$(grep -o 'xds=[0-9.:]*' "$work/cp.out" | cut -d= -f2)"; admin="$(grep -o 'admin=[0-9.:]*' "$work/cp.out" | cut -d= -f2)"
printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: edge }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' \
  | WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$work/data" node "$root/bin/weft.js" apply -f - > /dev/null
export WEFT_JOIN_TOKEN="$(WEFT_SERVER="http://$admin" WEFT_DATA_DIR="$work/data" node "$root/bin/weft.js" token create --service edge 2>/dev/null)"
cpu_ticks() { local t=0; for p in "$@"; do [ -r "/proc/$p/stat" ] && t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
rows=()
for n in $WORKERS; do
  lp=$(free_port)
  WEFT_LOG_LEVEL=warn node "$root/bin/weft.js" sidecar --service edge --app-port "$up_port" --control-plane "$xds" \
    --inbound-port "$lp" --inbound-address 127.0.0.1 --outbound-port 0 --admin-port 0 --workers "$n" > "$work/sc$n.out" 2>&1 &
  sc=$!; pids+=("$sc")
  for _ in $(seq 200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$lp/")" = 200 ] && break; sleep 0.1; done
  procs=("$sc" $(pgrep -P "$sc" || true))
  taskset -c 0 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$lp/" > /dev/null   # warm-up
  t0=$(cpu_ticks "${procs[@]}")
  taskset -c 0 wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$lp/" > "$work/wrk$n.txt"
  t1=$(cpu_ticks "${procs[@]}")
  reqs=$(awk '/requests in/{print $1}' "$work/wrk$n.txt")
  rps=$(awk '/Requests\/sec/{print $2}' "$work/wrk$n.txt")
  p50=$(awk '/Latency/{print $2}' "$work/wrk$n.txt")
  us=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" 'BEGIN{printf "%.1f", (b-a)/100*1e6/n}')
  rows+=("$n $rps $us $p50")
  kill -TERM "$sc"; wait "$sc" 2>/dev/null || true
done
node - "$out" "${rows[@]}" <<'JS'
const [outDir, ...rows] = process.argv.slice(2);
const r = rows.map((l) => { const [workers, rps, cpu, lat] = l.split(' '); return { workers: +workers, rps: +rps, cpuUsPerReq: +cpu, avgLatency: lat }; });
const base = r.find((x) => x.workers === 1)?.rps ?? r[0].rps;
let t = `# weft sidecar --workers N: saturated single-hop req/s (wrk -c${process.env.CONNS ?? 64}, nginx upstream), ${require('os').availableParallelism()} cores\n`;
t += 'workers      req/s   vs 1   cpu us/req  avg latency\n';
for (const x of r) t += `${String(x.workers).padStart(7)} ${x.rps.toFixed(0).padStart(10)} ${(x.rps / base).toFixed(2).padStart(5)}x ${x.cpuUsPerReq.toFixed(1).padStart(12)} ${x.avgLatency.padStart(12)}\n`;
process.stdout.write(t);
require('fs').writeFileSync(`${outDir}/workers.txt`, t);
require('fs').writeFileSync(`${outDir}/workers.json`, JSON.stringify({ scenario: 'workers', rows: r.map((x) => ({ ...x, scaling: +(x.rps / base).toFixed(3) })) }, null, 2) + '\n');
JS
