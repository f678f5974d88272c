// gRPC-Web through the mesh when things fail, real processes: a control plane and two sidecars
// (web, and shelves whose app is not running); `bookstore` has no instance at all. A page's
// gRPC-Web client (connect-web over a fetch that applies a browser's CORS rules) calling through
// web's outbound listener gets UNAVAILABLE, not a CORS failure, whichever sidecar made the error.
// And `weft proxy-config` renders a listener that carries the grpc_web filter (issue 16, 10/11).
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileRegistry, fromBinary, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserFetch, rawFetch } from '../harness/browser-fetch.js';
import { buildDescriptorSet } from '../harness/descriptors.js';
import { figure, startControlPlane, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type SidecarProc } from '../harness/processes.js';

const ROOT = join(import.meta.dirname, '..', '..');
const ORIGIN = 'https://shop.example';

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('gRPC-Web callers of an unavailable service, through real sidecars', () => {
  let cp: ControlPlaneProc;
  let web: SidecarProc;
  let shelves: SidecarProc;
  let svc: DescService;

  beforeAll(async () => {
    cp = await startControlPlane();
    svc = createFileRegistry(fromBinary(FileDescriptorSetSchema, buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore')))).getService('bookstore.Bookstore')!;
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, [
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bookstore }\nspec:\n  ports: [{ name: grpc, port: 9090, protocol: grpc }]\n',
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: shelves }\nspec:\n  ports: [{ name: grpc, port: 9091, protocol: grpc }]\n',
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n',
    ].join('---\n'));
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    // shelves' sidecar runs (its inbound listener has grpc_web) but its app does not.
    shelves = await startSidecar(cp.xdsPort, { service: 'shelves', appPort: await closedPort(), appProtocol: 'grpc' });
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1 });
    await waitForHosts(web, 'outbound|9091||shelves.default', 1);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), shelves?.kill('SIGKILL')]);
    await cp?.kill();
  });

  async function call(host: string): Promise<ConnectError> {
    const client = createClient(svc, createGrpcWebTransport({ baseUrl: `http://${host}`, fetch: browserFetch(web.outboundPort, host, ORIGIN) })) as unknown as { getShelf(r: { shelf: bigint }): Promise<unknown> };
    try {
      await client.getShelf({ shelf: 1n });
    } catch (e) {
      return ConnectError.from(e);
    }
    throw new Error('the call succeeded');
  }

  it.each([
    // web's sidecar makes it: the cluster has no endpoint.
    { host: 'bookstore', weftError: 'NO_HEALTHY_UPSTREAM' },
    // shelves' sidecar makes it (its app is down); web's sidecar passes it on.
    { host: 'shelves', weftError: 'UPSTREAM_CONNECT_FAILURE' },
  ])('$host: the page gets UNAVAILABLE ($weftError), with the headers a browser needs', async ({ host, weftError }) => {
    const pre = await rawFetch(web.outboundPort, host, '/bookstore.Bookstore/GetShelf', new Headers({ origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent' }), undefined, 'OPTIONS');
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type,x-grpc-web,x-user-agent');

    const err = await call(host);
    expect(Code[err.code], err.message).toBe('Unavailable');

    const frame = Buffer.from([0, 0, 0, 0, 2, 8, 1]);
    const res = await rawFetch(web.outboundPort, host, '/bookstore.Bookstore/GetShelf', new Headers({ 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1', origin: ORIGIN }), frame);
    const body = Buffer.from(await res.arrayBuffer());
    const h = Object.fromEntries(['content-type', 'grpc-status', 'x-weft-error', 'access-control-allow-origin', 'access-control-expose-headers'].map((k) => [k, res.headers.get(k)]));
    expect({ status: res.status, ...h }).toEqual({
      status: 200,
      'content-type': 'application/grpc-web+proto',
      'grpc-status': '14',
      'x-weft-error': weftError,
      'access-control-allow-origin': ORIGIN,
      'access-control-expose-headers': 'grpc-status,grpc-message,grpc-status-details-bin,x-weft-error',
    });
    expect(body[0]).toBe(0x80);
    expect(body.subarray(5).toString('latin1')).toMatch(new RegExp(`^grpc-status: 14\r\ngrpc-message: .+\r\nx-weft-error: ${weftError}\r\n$`));
    figure(`grpc-web error ${host}`, { code: Code[err.code], weftError: res.headers.get('x-weft-error'), message: err.rawMessage });
  });

  it('weft proxy-config renders a listener with the grpc_web filter (json, yaml, table)', async () => {
    const json = await weft(['proxy-config', shelves.id, '--type', 'listener', '-o', 'json'], { cp });
    expect(json.code, json.stderr).toBe(0);
    const dump = JSON.parse(json.stdout) as { resources: { listener: Array<{ name: string; resource: { filterChains: Array<{ filters: Array<{ typedConfig: { httpFilters: Array<{ name: string; typedConfig: Record<string, unknown> }> } }> }> } }> } };
    const inbound = dump.resources.listener.find((l) => l.name === 'inbound')!;
    const filters = inbound.resource.filterChains[0]!.filters[0]!.typedConfig.httpFilters;
    expect(filters.map((x) => [x.name, x.typedConfig['@type']])).toContainEqual(['envoy.filters.http.grpc_web', 'type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb']);
    for (const args of [['-o', 'yaml'], []]) {
      const r = await weft(['proxy-config', shelves.id, ...args], { cp });
      expect(r.code, r.stderr).toBe(0);
    }
  });
});
