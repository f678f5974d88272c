// The API-gateway filters and aggregation together, in one in-process gateway with a real
// upstream: a composed request is authenticated and rate limited once, its calls go out as its
// consumer (x-weft-consumer set by the proxy, never the client's), and the calls are not refused
// by the key filter they pass through again (review of the issue-20 merge: every composed request
// behind an ApiKeyPolicy used to answer 502, each call 401).
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const K = 'wk_a1_acme-secret-key-0123456789abcdefghijklmnopqrstuv';
const sha = (k: string) => `sha256:${createHash('sha256').update(k).digest('hex')}`;
const YAML = `apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: acme }
spec: { plan: gold, keys: [{ id: a1, hash: "${sha(K)}" }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /agg/default } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: AggregationPolicy, name: dflt } }]
    - matches: [{ path: { type: PathPrefix, value: /agg/withkey } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: AggregationPolicy, name: withkey } }]
    - backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: AggregationPolicy
metadata: { name: dflt }
spec:
  calls:
    - { name: echo, path: /echo, timeout: 2s }
---
apiVersion: weft.dev/v1alpha1
kind: AggregationPolicy
metadata: { name: withkey }
spec:
  calls:
    - { name: echo, path: /echo, timeout: 2s, headers: [x-api-key, x-weft-consumer] }
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys }
spec:
  header: x-api-key
  consumers: { all: true }
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }]
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: rl }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  rules:
    - { name: per-consumer, descriptor: [consumer], requests: 4, unit: minute, scope: local }
`;


describe('aggregation behind API keys and a rate limit', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    app = await upstream((q, s) => {
      s.setHeader('content-type', 'application/json');
      s.end(JSON.stringify({ consumer: q.headers['x-weft-consumer'] ?? null, key: q.headers['x-api-key'] ?? null }));
    });
    gw = await inProcessGateway([PLAINTEXT_MESH, YAML, service('app', [app.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await app?.close();
  });

  it('composes as the caller: calls carry its consumer, not its key, and pass the key filter', async () => {
    const r = await send(gw.port('web'), '/agg/default', { host: 'api.example', headers: { 'x-api-key': K } });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ echo: { consumer: 'acme', key: null } });
  });

  it('counts a composed request once against the limit, whatever its calls (4 per minute: 4 composed requests pass)', async () => {
    // The first test used one; three more pass, the fifth is refused at the composed request.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(gw.port('web'), '/agg/withkey', { host: 'api.example', headers: { 'x-api-key': K } })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
  });

  it('refuses a composed request without a key before any call', async () => {
    const r = await send(gw.port('web'), '/agg/default', { host: 'api.example' });
    expect(r.status).toBe(401);
    expect(r.headers['x-weft-error']).toBe('API_KEY_MISSING');
  });
});
