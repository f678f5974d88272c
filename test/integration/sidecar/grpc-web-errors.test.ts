// Errors the sidecar makes for a gRPC-Web caller (a browser), in process: the sidecar's HTTP/1.1
// server (H1Connection) on loopback, the real router, route table and upstream clusters, and a
// connect-web client whose fetch applies a browser's CORS rules (a cross-origin response that does
// not allow the page's origin is a network error; unexposed headers are hidden). Each error, made before routing (not ready, no route, RBAC)
// or after (no healthy upstream, connect failure, timeout, circuit open), must come back as
// HTTP 200 `application/grpc-web...` with the gRPC status in the headers and in the trailer frame,
// `x-weft-error`, and the CORS headers the preflight promised. Caught: they were sent as
// `application/grpc` without CORS, which a browser reports as a CORS failure (issue 16, item 10).
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { create, createFileRegistry, fromBinary, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterSchema, Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { H1Connection, type H1Options } from '../../../sidecar/http/h1-server.js';
import { answeringHooks } from '../../harness/h1-hooks.js';
import { rbac, type RbacDecision, type RbacEngine } from '../../../sidecar/http/filters/rbac.js';
import { grpcWeb } from '../../../sidecar/http/filters/grpc-web.js';
import { compose, type FilterSpec } from '../../../sidecar/http/filter.js';
import { serve, type ChainSource } from '../../../sidecar/http/hcm.js';
import { router } from '../../../sidecar/http/router.js';
import { DEFAULT_PATH_OPTIONS } from '../../../sidecar/http/uri.js';
import { RouteTable } from '../../../sidecar/routing/route-table.js';
import { UpstreamCluster } from '../../../sidecar/upstream/cluster.js';
import { browserFetch, rawFetch } from '../../harness/browser-fetch.js';
import { buildDescriptorSet } from '../../harness/descriptors.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const OPTS: H1Options = { maxHeaderBytes: 16_384, headersTimeoutMs: 30_000, keepAliveTimeoutMs: 60_000 };
const ORIGIN = 'https://shop.example';
const EXPOSED = ['grpc-status', 'grpc-message', 'x-weft-error'];

const closers: Array<() => void> = [];

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An h2 server that accepts every stream and never answers. */
async function silentUpstream(): Promise<number> {
  const srv = http2.createServer();
  srv.on('stream', (st) => st.on('error', () => undefined));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  return (srv.address() as net.AddressInfo).port;
}

function staticCluster(name: string, port: number, extra: { maxRequests?: number } = {}): UpstreamCluster {
  return new UpstreamCluster(
    create(ClusterSchema, {
      name,
      clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.STATIC },
      connectTimeout: { nanos: 500_000_000 },
      loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: port } } } } } } }] }] },
      ...(extra.maxRequests !== undefined ? { circuitBreakers: { thresholds: [{ maxRequests: extra.maxRequests }] } } : {}),
    }),
    true,
  );
}

/** One virtual host per case: the authority picks the error. */
function table(): RouteTable {
  const vh = (host: string, cluster: string, timeoutMs = 0) => ({
    name: host,
    domains: [host],
    routes: [{ match: { pathSpecifier: { case: 'prefix' as const, value: '/bookstore.Bookstore/' } }, action: { case: 'route' as const, value: { clusterSpecifier: { case: 'cluster' as const, value: cluster }, timeout: { nanos: timeoutMs * 1_000_000 } } } }],
  });
  return new RouteTable(create(RouteConfigurationSchema, {
    name: 'test',
    virtualHosts: [vh('unknown', 'not-there'), vh('empty', 'empty'), vh('refused', 'refused'), vh('slow', 'slow', 300), vh('full', 'full'), vh('denied', 'empty')],
  }));
}

/** RBAC that denies requests for the 'denied' host, as an AuthorizationPolicy on that service would. */
const RBAC: RbacEngine = {
  policyCount: 1,
  evaluate: (r): RbacDecision => (r.header(':authority') === 'denied' ? { allowed: false, policy: 'default/test/rules[0]', reason: 'denied by default/test/rules[0]' } : { allowed: true, reason: 'allowed' }),
};

/** A sidecar listener: H1Connection + the connection manager with `chain`. */
async function listen(chain: ChainSource): Promise<number> {
  const hooks = answeringHooks((d) => serve(d, chain));
  const conns: H1Connection[] = [];
  const srv = net.createServer((s) => conns.push(new H1Connection(s, hooks, OPTS)));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => {
    for (const c of conns) c.socket.destroy();
    srv.close();
  });
  return (srv.address() as net.AddressInfo).port;
}

let svc: DescService;
/** Listener ports: with the grpc_web filter (a service's inbound listener), without (an outbound one), and one with no routes yet. */
const ports = { inbound: 0, outbound: 0, notReady: 0 };

beforeAll(async () => {
  const set = fromBinary(FileDescriptorSetSchema, buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore')));
  svc = createFileRegistry(set).getService('bookstore.Bookstore')!;
  const clusters = new Map<string, UpstreamCluster>([
    ['empty', new UpstreamCluster(create(ClusterSchema, { name: 'empty', clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS } }), true)],
    ['refused', staticCluster('refused', await closedPort())],
    ['slow', staticCluster('slow', await silentUpstream())],
    ['full', staticCluster('full', await closedPort(), { maxRequests: 0 })],
  ]);
  closers.push(() => {
    for (const c of clusters.values()) c.close();
  });
  const rt = table();
  // The listener's filters (RBAC, and grpc_web on the inbound one) ending in the router.
  const chain = (web: boolean): ChainSource => {
    const filters: FilterSpec[] = [{ name: 'envoy.filters.http.rbac', factory: rbac as FilterSpec['factory'], config: RBAC }, ...(web ? [{ name: 'envoy.filters.http.grpc_web', factory: grpcWeb as FilterSpec['factory'], config: true }] : [])];
    const c = { table: rt, paths: DEFAULT_PATH_OPTIONS, head: compose(filters, router({ cluster: (n) => clusters.get(n), upgrades: new Set() }), { listener: 'test' }), byRoute: new Map() };
    return () => c;
  };
  ports.inbound = await listen(chain(true));
  ports.outbound = await listen(chain(false));
  ports.notReady = await listen(() => undefined);
}, 60_000);

afterAll(() => {
  for (const c of closers.splice(0)) c();
});

interface Client {
  getShelf(r: { shelf: bigint }): Promise<unknown>;
}

async function callError(port: number, host: string): Promise<ConnectError> {
  const client = createClient(svc, createGrpcWebTransport({ baseUrl: `http://${host}`, fetch: browserFetch(port, host, ORIGIN) })) as unknown as Client;
  try {
    await client.getShelf({ shelf: 1n });
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error('the call succeeded');
}

const FRAME = Buffer.from([0, 0, 0, 0, 2, 8, 1]); // GetShelfRequest{shelf: 1}

/** The exact response a browser gets for a gRPC-Web POST (binary or text). */
async function raw(port: number, host: string, contentType: string): Promise<{ status: number; headers: Headers; trailer: string }> {
  const text = contentType.startsWith('application/grpc-web-text');
  const res = await rawFetch(port, host, '/bookstore.Bookstore/GetShelf', new Headers({ 'content-type': contentType, 'x-grpc-web': '1', origin: ORIGIN }), text ? Buffer.from(FRAME.toString('base64')) : FRAME);
  const body = Buffer.from(await res.arrayBuffer());
  const bytes = text ? Buffer.from(body.toString('latin1'), 'base64') : body;
  expect(bytes[0], `a trailer frame, got ${JSON.stringify(body.toString('latin1'))}`).toBe(0x80);
  expect(bytes.readUInt32BE(1)).toBe(bytes.length - 5);
  return { status: res.status, headers: res.headers, trailer: bytes.subarray(5).toString('latin1') };
}

/** What a browser needs to read the status of a cross-origin gRPC-Web call. */
function expectBrowserReadable(h: Headers): void {
  expect(h.get('access-control-allow-origin')).toBe(ORIGIN);
  const exposed = (h.get('access-control-expose-headers') ?? '').split(',').map((x) => x.trim());
  for (const e of EXPOSED) expect(exposed).toContain(e);
}

const CASES: Array<{ name: string; host: string; listener: 'inbound' | 'outbound' | 'notReady'; code: Code; weft: string }> = [
  // Before routing.
  { name: 'not ready (no routes yet)', host: 'unknown', listener: 'notReady', code: Code.Unavailable, weft: 'NOT_READY' },
  { name: 'no route', host: 'nowhere', listener: 'outbound', code: Code.Unimplemented, weft: 'NO_ROUTE' },
  { name: 'RBAC denial', host: 'denied', listener: 'inbound', code: Code.PermissionDenied, weft: 'RBAC_DENIED' },
  { name: 'cluster not known', host: 'unknown', listener: 'outbound', code: Code.Unavailable, weft: 'NO_HEALTHY_UPSTREAM' },
  // After routing, forwarded as is (an outbound listener) and translated to gRPC (an inbound one with grpc_web).
  ...(['outbound', 'inbound'] as const).flatMap((listener) => [
    { name: `no healthy upstream (${listener})`, host: 'empty', listener, code: Code.Unavailable, weft: 'NO_HEALTHY_UPSTREAM' },
    { name: `connect failure (${listener})`, host: 'refused', listener, code: Code.Unavailable, weft: 'UPSTREAM_CONNECT_FAILURE' },
    { name: `route timeout (${listener})`, host: 'slow', listener, code: Code.DeadlineExceeded, weft: 'UPSTREAM_TIMEOUT' },
    { name: `circuit open (${listener})`, host: 'full', listener, code: Code.Unavailable, weft: 'CIRCUIT_OPEN' },
  ]),
];

describe('errors the sidecar makes for a gRPC-Web caller', () => {
  it.each(CASES)('$name: a connect-web client on a cross-origin page gets the gRPC code', async ({ host, listener, code }) => {
    const err = await callError(ports[listener], host);
    expect(Code[err.code], err.message).toBe(Code[code]);
  });

  it.each(CASES)('$name: HTTP 200 application/grpc-web+proto, status in headers and trailer frame, x-weft-error, CORS', async ({ host, listener, code, weft }) => {
    const r = await raw(ports[listener], host, 'application/grpc-web+proto');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/grpc-web+proto');
    expect(r.headers.get('grpc-status')).toBe(String(code));
    expect(r.headers.get('x-weft-error')).toBe(weft);
    expect(r.trailer).toMatch(new RegExp(`^grpc-status: ${code}\r\ngrpc-message: [^\r\n]+\r\n`));
    expect(r.trailer).toContain(`x-weft-error: ${weft}\r\n`);
    expectBrowserReadable(r.headers);
  });

  it('text mode: the trailer frame is base64 and the reply repeats the caller\'s content type', async () => {
    for (const ct of ['application/grpc-web-text', 'application/grpc-web-text+proto']) {
      const r = await raw(ports.outbound, 'empty', ct);
      expect([r.status, r.headers.get('content-type'), r.headers.get('grpc-status')]).toEqual([200, ct, '14']);
      expect(r.trailer).toContain('grpc-status: 14\r\n');
      expectBrowserReadable(r.headers);
    }
    const b = await raw(ports.outbound, 'nowhere', 'application/grpc-web');
    expect([b.headers.get('content-type'), b.headers.get('grpc-status')]).toEqual(['application/grpc-web', '12']);
  });

  it('a preflight the sidecar cannot route is still answered, so the call comes and gets its status', async () => {
    for (const [listener, host] of [['outbound', 'nowhere'], ['outbound', 'empty'], ['inbound', 'denied'], ['notReady', 'x']] as const) {
      const res = await rawFetch(ports[listener], host, '/bookstore.Bookstore/GetShelf', new Headers({ origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent' }), undefined, 'OPTIONS');
      expect(res.status, `${listener} ${host}`).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      expect(res.headers.get('access-control-allow-headers')).toBe('content-type,x-grpc-web,x-user-agent');
    }
  });

  it('plain gRPC and HTTP callers are answered as before', async () => {
    const g = await rawFetch(ports.outbound, 'empty', '/bookstore.Bookstore/GetShelf', new Headers({ 'content-type': 'application/grpc', te: 'trailers' }), FRAME);
    expect([g.status, g.headers.get('content-type'), g.headers.get('grpc-status'), g.headers.get('access-control-allow-origin')]).toEqual([200, 'application/grpc', '14', null]);
    const h = await rawFetch(ports.outbound, 'nowhere', '/x', new Headers({ origin: ORIGIN }), undefined, 'GET');
    expect([h.status, h.headers.get('x-weft-error'), await h.text()]).toEqual([404, 'NO_ROUTE', 'NO_ROUTE: no route for GET nowhere/x\n']);
    const p = await rawFetch(ports.outbound, 'nowhere', '/x', new Headers({ origin: ORIGIN, 'access-control-request-method': 'GET' }), undefined, 'OPTIONS');
    expect(p.status).toBe(404);
  });
});
