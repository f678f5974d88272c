// The cost of HTTP filters on the request path, in process: a listener chain composed by the real
// factories from real Envoy configs (as the runtime composes it when config is applied), called
// with one request head, a response sink and an info record, against the router alone. Rows:
// router only; RBAC (one ALLOW policy) + fault (abort at 0 %) + CORS (the gRPC-Web policy) for a
// request without an Origin and for one with (CORS then wraps the sink). The terminal answers at
// once, so the figure is the filters' own time. Medians of ROUNDS rounds; same process, same run.
// Run by `make bench` (scenario filterChain); writes bench/results/filter-chain.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { describe, it } from 'vitest';
import { GRPC_WEB_ALLOW_METHODS, GRPC_WEB_EXPOSE, GRPC_WEB_MAX_AGE } from '../common/grpc-web.js';
import { RBACSchema } from '../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import { HTTPFaultSchema } from '../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { CorsPolicySchema, CorsSchema } from '../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import { compose, RequestInfo, type FilterSpec, type Handler, type RequestHead, type ResponseHeaders, type ResponseSink } from '../sidecar/http/filter.js';
import { rbac } from '../sidecar/http/filters/rbac.js';
import { fault } from '../sidecar/http/filters/fault.js';
import { cors } from '../sidecar/http/filters/cors.js';
import { Problems } from '../sidecar/xds/types/decoded.js';

const N = Number(process.env.CHAIN_BENCH_N ?? 1_000_000);
const ROUNDS = Number(process.env.CHAIN_BENCH_ROUNDS ?? 5);

function request(origin: boolean): RequestHead {
  const headers: Record<string, string> = { ':method': 'GET', ':path': '/api/orders', ':authority': 'orders', 'user-agent': 'bench', ...(origin ? { origin: 'https://shop.example' } : {}) };
  return { h2: false, grpc: false, method: 'GET', authority: 'orders', path: '/api/orders', search: '', upgrade: undefined, remoteAddress: '127.0.0.1', principal: undefined,
  secure: false, hasBody: false, body: Readable.from([]), header: (n) => headers[n], rawPairs: () => [] };
}

/** A sink that only counts answers. */
class CountingSink implements ResponseSink {
  n = 0;
  headersSent = false;
  writeHead(): void {}
  write(): boolean {
    return true;
  }
  onceDrain(): void {}
  end(): void {}
  respondTrailersOnly(): void {}
  respondSimple(_s: number, _h: ResponseHeaders): void {
    this.n++;
  }
  abort(): void {}
  onClientGone(): void {}
  closeAfterResponse(): void {}
}

const OK: ResponseHeaders = {};
const terminal: Handler = (_req, res) => res.respondSimple(200, OK, '');

function chainOf(): Handler {
  const p = new Problems('bench');
  const specs: FilterSpec[] = [
    { name: 'envoy.filters.http.cors', factory: cors as FilterSpec['factory'], config: cors.parse(anyPack(CorsSchema, create(CorsSchema)), p, 'cors') },
    {
      name: 'envoy.filters.http.rbac',
      factory: rbac as FilterSpec['factory'],
      config: rbac.parse(anyPack(RBACSchema, create(RBACSchema, { rules: { action: 0, policies: { 'default/callers/rules[0]': { permissions: [{ rule: { case: 'urlPath', value: { rule: { case: 'path', value: { matchPattern: { case: 'prefix', value: '/api/' } } } } } }], principals: [{ identifier: { case: 'any', value: true } }] } } } })), p, 'rbac'),
    },
    { name: 'envoy.filters.http.fault', factory: fault as FilterSpec['factory'], config: fault.parse(anyPack(HTTPFaultSchema, create(HTTPFaultSchema, { abort: { errorType: { case: 'httpStatus', value: 503 }, percentage: { numerator: 0 } } })), p, 'fault') },
  ];
  const policy = cors.perRoute!.parse(anyPack(CorsPolicySchema, create(CorsPolicySchema, { allowOriginStringMatch: [{ matchPattern: { case: 'safeRegex', value: { regex: '.*' } } }], allowMethods: GRPC_WEB_ALLOW_METHODS, exposeHeaders: GRPC_WEB_EXPOSE, maxAge: GRPC_WEB_MAX_AGE })), p, 'policy');
  if (p.errors.length) throw new Error(p.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return compose(specs, terminal, { listener: 'bench' }, (s) => (s.name === 'envoy.filters.http.cors' ? policy : undefined));
}

/** ns per request of `h` over N calls. */
function time(h: Handler, req: RequestHead): number {
  const res = new CountingSink();
  const info = new RequestInfo();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) h(req, res, info);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  if (res.n !== N) throw new Error(`FAILED: ${res.n} of ${N} requests answered`);
  return ns;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

describe('HTTP filter chain cost', () => {
  it('prints ns per request, router only against RBAC + fault (0 %) + CORS', () => {
    const chain = chainOf();
    const plain = request(false);
    const withOrigin = request(true);
    const rows: Record<string, number[]> = { router: [], chain: [], chainOrigin: [] };
    // Warm up (JIT), then interleave the rows in each round so each saw the same machine.
    time(terminal, plain);
    time(chain, plain);
    time(chain, withOrigin);
    for (let r = 0; r < ROUNDS; r++) {
      rows.router!.push(time(terminal, plain));
      rows.chain!.push(time(chain, plain));
      rows.chainOrigin!.push(time(chain, withOrigin));
    }
    const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
    const lines = [
      `HTTP filter chain cost, in process (median of ${ROUNDS} rounds of ${N.toLocaleString('en')} requests)`,
      `  chain                                        ns/req   added ns/req`,
      `  router only                                  ${m.router!.toFixed(1).padStart(6)}   -`,
      `  rbac + fault (0 %) + cors, no Origin         ${m.chain!.toFixed(1).padStart(6)}   ${(m.chain! - m.router!).toFixed(1)}`,
      `  rbac + fault (0 %) + cors, Origin allowed    ${m.chainOrigin!.toFixed(1).padStart(6)}   ${(m.chainOrigin! - m.router!).toFixed(1)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/filter-chain.json', JSON.stringify({ n: N, rounds: ROUNDS, nsPerRequest: rows, medians: m, addedNs: { noOrigin: m.chain! - m.router!, origin: m.chainOrigin! - m.router! } }, null, 2));
  });
});
