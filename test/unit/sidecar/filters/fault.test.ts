// The fault filter in process: a FaultPolicy referenced from an HTTPRoute rule (ExtensionRef),
// through the translator, the sidecar's decoders and a real outbound listener. Aborts come at the
// configured share with the configured status and x-weft-error FAULT_ABORT, and never reach the
// upstream; delays hold requests back; request headers drive header_* faults; only the routes
// that reference the policy are touched; a config the sidecar cannot run is refused with its path.
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTPFaultSchema } from '../../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { fault, faultCounters } from '../../../../sidecar/http/filters/fault.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { eventually } from '../../../harness/processes.js';
import { inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const policy = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1\nkind: FaultPolicy\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const ref = (name: string) => `        - type: ExtensionRef\n          extensionRef: { group: weft.dev, kind: FaultPolicy, name: ${name} }\n`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-faults }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /abort } }]
      filters:
${ref('abort30')}      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      filters:
${ref('delay200')}      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /header } }]
      filters:
${ref('by-header')}      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
const POLICIES = [
  policy('abort30', '  abort: { httpStatus: 503, percentage: 30 }\n'),
  policy('delay200', '  delay: { fixedDelay: 200ms, percentage: 100 }\n'),
  policy('by-header', '  delay: { fromHeader: true, percentage: 100 }\n  abort: { fromHeader: true, percentage: 100 }\n'),
];

let app: Upstream;
let sc: InProcessSidecar;

beforeAll(async () => {
  app = await upstream();
  sc = await inProcessSidecar([PLAINTEXT_MESH, service('orders', [app.port]), service('web', []), ...POLICIES, ROUTE], { service: 'web', appPort: 1 });
}, 30_000);
afterAll(async () => {
  await sc.close();
  await app.close();
});

/** n requests, `conc` at a time. */
async function many(n: number, path: string, conc = 16): Promise<Array<Awaited<ReturnType<typeof send>>>> {
  const out: Array<Awaited<ReturnType<typeof send>>> = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: conc }, async () => {
      while (next < n) {
        next++;
        out.push(await send(sc.outbound, path));
      }
    }),
  );
  return out;
}

describe('fault filter', () => {
  it('aborts 30 % of 1,000 requests (within 5 points) with 503 FAULT_ABORT; the upstream never sees them', async () => {
    const before = app.seen.length;
    const rs = await many(1000, '/abort/x');
    const aborted = rs.filter((r) => r.status === 503);
    expect(aborted.every((r) => r.headers['x-weft-error'] === 'FAULT_ABORT')).toBe(true);
    expect(rs.filter((r) => r.status !== 503 && r.status !== 200)).toEqual([]);
    expect(aborted.length).toBeGreaterThanOrEqual(250);
    expect(aborted.length).toBeLessThanOrEqual(350);
    expect(app.seen.length - before).toBe(1000 - aborted.length);
    // Counted on the listener (weft_fault_aborts_injected_total).
    expect(faultCounters().get('outbound')?.aborts).toBe(aborted.length);
  });

  it('delays by 200 ms (p50) on the route with the policy, and not on the others', async () => {
    const slow = (await many(20, '/slow/x', 10)).map((r) => r.ms).sort((a, b) => a - b);
    const fast = (await many(20, '/other', 10)).map((r) => r.ms).sort((a, b) => a - b);
    expect(slow[10]).toBeGreaterThanOrEqual(195);
    expect(slow[0]).toBeGreaterThanOrEqual(195);
    // The control: the same requests without a fault do not wait the delay.
    expect(fast[10]).toBeLessThan(195);
  });

  it('header_abort and header_delay take the status and the delay from the request', async () => {
    const a = await send(sc.outbound, '/header/a', { headers: { 'x-envoy-fault-abort-request': '429' } });
    expect([a.status, a.headers['x-weft-error']]).toEqual([429, 'FAULT_ABORT']);
    const g = await send(sc.outbound, '/header/g', { headers: { 'x-envoy-fault-abort-grpc-request': '14', 'content-type': 'application/grpc' }, method: 'POST' });
    expect([g.status, g.headers['grpc-status']]).toEqual([200, '14']);
    const d = await send(sc.outbound, '/header/d', { headers: { 'x-envoy-fault-delay-request': '150' } });
    expect([d.status, d.ms >= 145]).toEqual([200, true]);
    // The percentage header can only lower the share: 0 turns the abort off.
    const off = await send(sc.outbound, '/header/off', { headers: { 'x-envoy-fault-abort-request': '503', 'x-envoy-fault-abort-request-percentage': '0' } });
    expect(off.status).toBe(200);
    const none = await send(sc.outbound, '/header/none');
    expect(none.status).toBe(200);
  });

  it('a client that leaves during a delay is not forwarded when the delay ends', async () => {
    const { request } = await import('node:http');
    const req = request({ host: '127.0.0.1', port: sc.outbound, path: '/slow/leave', headers: { host: 'orders' } });
    req.on('error', () => undefined);
    req.end();
    await eventually(() => sc.active() === 1, 5000, 5);
    req.destroy();
    await eventually(() => sc.active() === 0, 5000, 5);
    // A delayed request started after it ends after its timer would have fired.
    const later = await send(sc.outbound, '/slow/after');
    expect(later.status).toBe(200);
    expect(app.seen.map((s) => s.url)).not.toContain('/slow/leave');
    expect(app.seen.map((s) => s.url)).toContain('/slow/after');
  });
});

describe('fault config the sidecar refuses (NACK), with field paths', () => {
  const errs = (init: Parameters<typeof create<typeof HTTPFaultSchema>>[1]): string[] => {
    const p = new Problems('Listener/outbound');
    fault.parse(anyPack(HTTPFaultSchema, create(HTTPFaultSchema, init)), p, 'f');
    return p.errors.map((e) => `${e.path}: ${e.message}`);
  };
  it.each([
    [{ abort: { errorType: { case: 'httpStatus' as const, value: 99 } } }, 'f.abort.http_status: must be 200..599'],
    [{ abort: { errorType: { case: 'grpcStatus' as const, value: 17 } } }, 'f.abort.grpc_status: must be a gRPC status code (0..16)'],
    [{ abort: {} }, 'f.abort: http_status, grpc_status or header_abort is required'],
    [{ delay: {} }, 'f.delay: fixed_delay or header_delay is required'],
    [{ abortPercentRuntime: 'x' }, 'f.abort_percent_runtime: runtime keys are not supported (the sidecar has no runtime)'],
    [{ upstreamCluster: 'x' }, 'f.upstream_cluster: is not supported by the Weft sidecar (refused rather than ignored)'],
    [{ downstreamNodes: ['a'] }, 'f.downstream_nodes: is not supported by the Weft sidecar (refused rather than ignored)'],
  ])('%o', (init, msg) => {
    expect(errs(init as never)).toContain(msg);
  });
  it('an empty HTTPFault is accepted and puts nothing in the chain', () => {
    const p = new Problems('Listener/outbound');
    const cfg = fault.parse(anyPack(HTTPFaultSchema, create(HTTPFaultSchema, {})), p, 'f');
    expect(p.errors).toEqual([]);
    expect(fault.create(cfg!, undefined, { listener: 'outbound' })).toBeUndefined();
  });
});
