// The RBAC filter in process: an AuthorizationPolicy through the translator, the sidecar's
// decoders and a real inbound listener. A denial is 403 RBAC_DENIED, never reaches the app, is
// reported to the sidecar (its log line) and names the rule; what is allowed reaches the app.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const POLICY = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-admin, namespace: default }
spec:
  service: orders
  action: DENY
  rules:
    - to: [{ paths: ["/admin/*"] }]
    - to: [{ methods: ["DELETE"] }]
`;

let app: Upstream;
let sc: InProcessSidecar;

beforeAll(async () => {
  app = await upstream();
  sc = await inProcessSidecar([PLAINTEXT_MESH, service('orders', []), POLICY], { service: 'orders', appPort: app.port });
});
afterAll(async () => {
  await sc.close();
  await app.close();
});

describe('rbac filter', () => {
  it.each([
    ['GET', '/admin/users', 403, 'default/no-admin/rules[0]'],
    ['GET', '/admin/../admin/x', 403, 'default/no-admin/rules[0]'],
    ['DELETE', '/orders/1', 403, 'default/no-admin/rules[1]'],
    ['GET', '/orders/1', 200, undefined],
    ['POST', '/administrator', 200, undefined],
  ])('%s %s -> %i', async (method, path, status, rule) => {
    const before = app.seen.length;
    const r = await send(sc.inbound, path, { method });
    expect(r.status).toBe(status);
    if (status === 403) {
      expect(r.headers['x-weft-error']).toBe('RBAC_DENIED');
      expect(app.seen.length).toBe(before);
      expect(sc.denials.at(-1)?.decision.policy).toBe(rule);
    } else expect(app.seen.at(-1)?.url).toBe(path);
  });
});
