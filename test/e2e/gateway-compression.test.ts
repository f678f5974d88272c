// Response compression through real processes and a real client: a control plane, `orders` (app
// + sidecar) and `weft gateway` for Gateway edge with a CompressionPolicy, configured with
// `weft apply`. curl --compressed (which asks for br, gzip, deflate, zstd) gets brotli, the
// server's first choice, and decodes the body the app sent, streamed or not; asking for gzip only
// gets gzip; a rule that opts out is sent as it is.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, freePort, startControlPlane, startGateway, startInstance, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';

const run = promisify(execFile);

const yaml = (port: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: ${port}, protocol: HTTP }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: edge-compression }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  algorithms: [brotli, gzip]
  minContentLength: 100
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: none }
spec: { disabled: true }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [shop.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /plain } }]
      filters:
        - type: ExtensionRef
          extensionRef: { group: weft.dev, kind: CompressionPolicy, name: none }
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /api } }
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /api } }, { path: { type: PathPrefix, value: /stream } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

/** curl through the gateway: the response head (lowercase names) and the body as curl wrote it (`-D -`: head first on stdout). */
async function curlHead(port: number, path: string, args: string[]): Promise<{ headers: Record<string, string>; body: Buffer }> {
  const r = await run('curl', ['-sS', '--max-time', '10', '-D', '-', ...args, '-H', 'host: shop.example.com', `http://127.0.0.1:${port}${path}`], { encoding: 'buffer', maxBuffer: 1 << 24 });
  const end = r.stdout.indexOf('\r\n\r\n');
  const headers: Record<string, string> = {};
  for (const line of r.stdout.subarray(0, end).toString().split('\r\n').slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body: r.stdout.subarray(end + 4) };
}

describe('weft gateway: response compression with a real client', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let gw: GatewayProc;
  let port: number;
  const pad = 'x'.repeat(400);

  beforeAll(async () => {
    cp = await startControlPlane();
    port = await freePort();
    const r = await weftApply(cp, yaml(port), 'edge.yaml');
    expect(r.code, r.stderr).toBe(0);
    [orders, gw] = await Promise.all([startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'), startGateway(cp.xdsPort, 'default/edge')]);
    let last: unknown;
    await eventually(async () => {
      const x = await curlHead(port, '/api/ready', []).catch((e: Error) => void (last = e.message));
      // What the gateway answered instead (status line, head and body), for the error below.
      if (x) last = { ...x.headers, body: x.body.toString('utf8', 0, 300) };
      return x?.headers['x-app'] === 'orders-1';
    }, 30_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}; last: ${JSON.stringify(last)}`);
    });
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), orders?.kill(), cp?.kill()]);
  });

  it('curl --compressed gets brotli (the policy\'s first choice) and decodes what the app sent', async () => {
    const r = await curlHead(port, `/api/items?pad=${pad}`, ['--compressed']);
    expect(r.headers['content-encoding']).toBe('br');
    expect(r.headers.vary).toBe('Accept-Encoding');
    expect(r.headers['content-length']).toBeUndefined();
    const j = JSON.parse(r.body.toString()) as { name: string; url: string };
    expect([j.name, j.url]).toEqual(['orders-1', `/api/items?pad=${pad}`]);
    const raw = await curlHead(port, `/api/items?pad=${pad}`, ['-H', 'accept-encoding: br']);
    figure('gateway compression (JSON, br)', { identityBytes: r.body.length, brotliBytes: raw.body.length });
    expect(raw.body.length).toBeLessThan(r.body.length);
  });

  it('a client asking for gzip only gets gzip; a streamed (chunked) body arrives whole', async () => {
    const r = await curlHead(port, '/stream?chunks=50&ms=2', ['--compressed', '-H', 'accept-encoding: gzip']);
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(r.body.toString()).toBe(Array.from({ length: 50 }, (_, i) => `chunk ${i}\n`).join(''));
  });

  it('a rule that names a disabled policy is sent as it is', async () => {
    const r = await curlHead(port, `/plain/items?pad=${pad}`, ['--compressed']);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect((JSON.parse(r.body.toString()) as { url: string }).url).toBe(`/api/items?pad=${pad}`);
  });
});
