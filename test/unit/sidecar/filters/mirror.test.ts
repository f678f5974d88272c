// Request mirroring in process: an HTTPRoute RequestMirror through the translator, the sidecar's
// decoders and a real outbound listener. The shadow service gets the configured share of the
// route's requests, with `-shadow` on the host and the same body; the primary's answers do not
// change when the shadow is slow or down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../harness/processes.js';
import { inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const route = (percent: number, shadow = 'shadow') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-mirror }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /m } }]
      filters:
        - type: RequestMirror
          requestMirror: { backendRef: { name: ${shadow}, port: 8080 }, percent: ${percent} }
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

let app: Upstream;
let shadow: Upstream;
let slowShadow: Upstream;
const holds: Array<() => void> = [];
let sc: InProcessSidecar;

const mesh = (percent: number, target = 'shadow') => [PLAINTEXT_MESH, service('orders', [app.port]), service('shadow', [shadow.port]), service('slow', [slowShadow.port]), service('gone', [1]), service('web', []), route(percent, target)];

beforeAll(async () => {
  app = await upstream();
  shadow = await upstream();
  // Answers only when the test lets it (held for as long as a test runs).
  slowShadow = await upstream((_q, s) => holds.push(() => s.end('late')));
  sc = await inProcessSidecar(mesh(100), { service: 'web', appPort: 1 });
}, 30_000);
afterAll(async () => {
  for (const h of holds.splice(0)) h();
  await sc.close();
  await Promise.all([app.close(), shadow.close(), slowShadow.close()]);
});

describe('request mirroring', () => {
  it('sends every request of the route (100 %) to the shadow, host suffixed -shadow, same method, path and body', async () => {
    const r = await send(sc.outbound, '/m/1?x=y', { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect([r.status, r.body]).toEqual([200, 'ok']);
    await eventually(() => shadow.seen.length === 1, 5000, 5);
    const s = shadow.seen[0]!;
    expect([s.method, s.url, s.headers.host, s.body]).toEqual(['POST', '/m/1?x=y', 'orders-shadow', 'payload']);
    expect(app.seen.at(-1)?.headers.host).toBe('orders');
    // Routes without the filter are not mirrored.
    await send(sc.outbound, '/other');
    await send(sc.outbound, '/m/2');
    await eventually(() => shadow.seen.length === 2, 5000, 5);
    expect(shadow.seen.map((x) => x.url)).toEqual(['/m/1?x=y', '/m/2']);
  });

  it('mirrors the configured share: 25 % of 800 requests within 5 points', async () => {
    sc.apply(mesh(25));
    const before = shadow.seen.length;
    for (let i = 0; i < 800; i++) expect((await send(sc.outbound, `/m/share/${i}`)).status).toBe(200);
    // Every shadow request was started before its primary answered; wait for them to land.
    const sent = sc.runtime.clusters().get([...sc.runtime.clusters().keys()].find((k) => k.includes('shadow'))!)!.stats.rqTotal;
    await eventually(() => shadow.seen.length - before >= sent - 2, 5000, 5);
    const n = shadow.seen.length - before;
    expect(n).toBeGreaterThanOrEqual(160);
    expect(n).toBeLessThanOrEqual(240);
  });

  it('a slow or absent shadow does not change the primary\'s answers', async () => {
    for (const target of ['slow', 'gone']) {
      sc.apply(mesh(100, target));
      const rs = [];
      for (let i = 0; i < 20; i++) rs.push(await send(sc.outbound, `/m/${target}/${i}`));
      expect(rs.map((r) => r.status)).toEqual(Array(20).fill(200));
      // The slow shadow holds every request it got; the primary answered them all meanwhile.
      if (target === 'slow') await eventually(() => holds.length === 20, 5000, 5);
    }
    expect(holds.length).toBe(20);
  });
});
