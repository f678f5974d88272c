// AuthorizationPolicy end to end through the real pieces: YAML -> validation -> model -> the
// control plane's RBAC filters -> protobuf bytes and back (what xDS carries) -> the sidecar's
// compiled engine -> a decision per request. Table-driven: principal, namespace, path, method,
// header, DENY over ALLOW, default deny, plaintext peers.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { parseDocuments, validateApply } from '../../../control-plane/config/index.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { rbacFilters } from '../../../control-plane/translate/rbac.js';
import { HttpConnectionManagerSchema } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { compileRbac, type RbacDecision, type RbacEngine } from '../../../sidecar/http/filters/rbac.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import { Problems } from '../../../sidecar/xds/types/decoded.js';

const TD = 'cluster.local';
const sa = (ns: string, s: string) => `spiffe://${TD}/ns/${ns}/sa/${s}`;

function policy(name: string, action: 'ALLOW' | 'DENY', rules: string, service = 'orders', ns = 'shop'): string {
  return `apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n  service: "${service}"\n  action: ${action}\n  rules: ${rules}\n`;
}

/** The engine the `orders.shop` sidecar would run for these documents. */
function engineFor(yaml: string, service = 'orders', ns = 'shop') {
  const { docs, errors } = parseDocuments(yaml, 'p.yaml');
  const v = validateApply(docs, buildModel(0, []));
  expect([...errors, ...v.errors]).toEqual([]);
  const model = buildModel(1, v.resources);
  const filters = rbacFilters(model, ns, service);
  // Through the wire format, as the sidecar receives it.
  const hcm = fromBinary(HttpConnectionManagerSchema, toBinary(HttpConnectionManagerSchema, create(HttpConnectionManagerSchema, { httpFilters: filters })));
  const p = new Problems('Listener/inbound');
  // Each RBAC filter in order, as the listener's chain runs them: the first denial wins.
  const engines = hcm.httpFilters.flatMap((f, i) => compileRbac(f.configType.value as Any, p, `http_filters[${i}].typed_config`) ?? []);
  expect(p.errors).toEqual([]);
  if (!engines.length) return undefined;
  const engine: RbacEngine = {
    policyCount: engines.reduce((n, e) => n + e.policyCount, 0),
    evaluate: (r) => engines.map((e) => e.evaluate(r)).find((d) => !d.allowed) ?? { allowed: true, reason: 'allowed' },
  };
  return engine;
}

interface Req {
  principal?: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}
function decide(yaml: string, r: Req, service = 'orders', ns = 'shop'): RbacDecision {
  const e = engineFor(yaml, service, ns);
  if (!e) return { allowed: true, reason: 'no RBAC filter' };
  return e.evaluate({ method: r.method ?? 'GET', path: r.path ?? '/', header: (n: string) => r.headers?.[n], principal: r.principal });
}

const WEB = sa('shop', 'web');
const ADMIN = sa('ops', 'admin');
const OTHER = sa('other', 'batch');
const MESH_DENY = 'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  authorization: { defaultAction: DENY }\n---\n';

describe('AuthorizationPolicy -> RBAC: table', () => {
  const cases: Array<[string, string, Req, boolean, RegExp?]> = [
    ['no policy: allowed', '', { principal: OTHER }, true],
    ['allow exact principal: match', policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }] }]`), { principal: WEB }, true],
    ['allow exact principal: other denied', policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }] }]`), { principal: OTHER }, false, /no ALLOW policy matched \(shop\/p\/rules\[0\]\)/],
    ['allow principal prefix wildcard', policy('p', 'ALLOW', `[{ from: [{ principals: ["spiffe://${TD}/ns/ops/*"] }] }]`), { principal: ADMIN }, true],
    ['allow principal suffix wildcard', policy('p', 'ALLOW', '[{ from: [{ principals: ["*/sa/admin"] }] }]'), { principal: ADMIN }, true],
    ['allow principal suffix wildcard: no match', policy('p', 'ALLOW', '[{ from: [{ principals: ["*/sa/admin"] }] }]'), { principal: WEB }, false],
    ['allow "*" principal: any authenticated', policy('p', 'ALLOW', '[{ from: [{ principals: ["*"] }] }]'), { principal: OTHER }, true],
    ['allow "*" principal: plaintext denied', policy('p', 'ALLOW', '[{ from: [{ principals: ["*"] }] }]'), {}, false],
    ['allow by namespace', policy('p', 'ALLOW', '[{ from: [{ namespaces: ["shop"] }] }]'), { principal: WEB }, true],
    ['allow by namespace: other namespace denied', policy('p', 'ALLOW', '[{ from: [{ namespaces: ["shop"] }] }]'), { principal: OTHER }, false],
    ['notPrincipals', policy('p', 'ALLOW', `[{ from: [{ notPrincipals: ["${OTHER}"] }] }]`), { principal: WEB }, true],
    ['notPrincipals: excluded', policy('p', 'ALLOW', `[{ from: [{ notPrincipals: ["${OTHER}"] }] }]`), { principal: OTHER }, false],
    ['deny by path prefix', policy('d', 'DENY', '[{ to: [{ paths: ["/admin/*"] }] }]'), { principal: WEB, path: '/admin/users' }, false, /denied by shop\/d\/rules\[0\]/],
    ['deny by path prefix: other path allowed', policy('d', 'DENY', '[{ to: [{ paths: ["/admin/*"] }] }]'), { principal: WEB, path: '/orders' }, true],
    ['deny by path suffix', policy('d', 'DENY', '[{ to: [{ paths: ["*.env"] }] }]'), { path: '/x/.env' }, false],
    ['allow by method', policy('p', 'ALLOW', '[{ to: [{ methods: ["GET", "HEAD"] }] }]'), { method: 'GET' }, true],
    ['allow by method: POST denied', policy('p', 'ALLOW', '[{ to: [{ methods: ["GET", "HEAD"] }] }]'), { method: 'POST' }, false],
    ['notMethods', policy('d', 'DENY', '[{ to: [{ notMethods: ["GET"] }] }]'), { method: 'DELETE' }, false],
    ['header exact', policy('p', 'ALLOW', '[{ when: [{ header: x-tier, values: ["gold"] }] }]'), { headers: { 'x-tier': 'gold' } }, true],
    ['header exact: other value', policy('p', 'ALLOW', '[{ when: [{ header: x-tier, values: ["gold"] }] }]'), { headers: { 'x-tier': 'free' } }, false],
    ['header prefix', policy('p', 'ALLOW', '[{ when: [{ header: x-tier, values: ["plat*"] }] }]'), { headers: { 'x-tier': 'platinum' } }, true],
    ['header present', policy('p', 'ALLOW', '[{ when: [{ header: x-tier, values: ["*"] }] }]'), { headers: { 'x-tier': 'any' } }, true],
    ['header present: missing', policy('p', 'ALLOW', '[{ when: [{ header: x-tier, values: ["*"] }] }]'), {}, false],
    ['header notValues', policy('d', 'DENY', '[{ when: [{ header: x-tier, notValues: ["gold"] }] }]'), { headers: { 'x-tier': 'free' } }, false],
    ['AND within a rule: principal and method', policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }], to: [{ methods: ["GET"] }] }]`), { principal: WEB, method: 'POST' }, false],
    ['OR across rules', policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }] }, { to: [{ paths: ["/health"] }] }]`), { path: '/health' }, true],
    ['DENY overrides ALLOW', policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }] }]`) + '---\n' + policy('d', 'DENY', '[{ to: [{ paths: ["/admin/*"] }] }]'), { principal: WEB, path: '/admin/x' }, false, /denied by shop\/d/],
    ['ALLOW with no rules allows nothing', policy('p', 'ALLOW', '[]'), { principal: WEB }, false],
    ['mesh default DENY, no policy: denied', MESH_DENY.replace(/---\n$/, ''), { principal: WEB }, false, /there are none: default deny/],
    ['mesh default DENY with a matching ALLOW', MESH_DENY + policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }] }]`), { principal: WEB }, true],
    ['plaintext peer allowed by a path-only rule', policy('p', 'ALLOW', '[{ to: [{ paths: ["/public/*"] }] }]'), { path: '/public/a' }, true],
    ['plaintext peer denied by principal rules', policy('p', 'ALLOW', `[{ from: [{ principals: ["${WEB}"] }] }]`), {}, false],
  ];
  it.each(cases)('%s', (_name, yaml, req, allowed, reason) => {
    const d = decide(yaml, req);
    expect(d.allowed).toBe(allowed);
    if (reason) expect(d.reason).toMatch(reason);
  });

  it('a "*" service policy applies to every service in its namespace, not in others', () => {
    const y = policy('all', 'DENY', '[{ to: [{ methods: ["DELETE"] }] }]', '*');
    expect(decide(y, { method: 'DELETE' }, 'payments', 'shop').allowed).toBe(false);
    expect(decide(y, { method: 'DELETE' }, 'orders', 'other').allowed).toBe(true);
    expect(engineFor(y, 'orders', 'other')).toBeUndefined();
  });
});

describe('AuthorizationPolicy validation', () => {
  const errs = (yaml: string) => {
    const { docs, errors } = parseDocuments(yaml, 'p.yaml');
    return [...errors, ...validateApply(docs, buildModel(0, [])).errors].map((e) => `${e.path}: ${e.message}`);
  };
  it('names every mistake with its field path', () => {
    const e = errs(policy('bad', 'MAYBE' as 'ALLOW', '[{ from: [{ principals: ["spiffe://*/sa/x", ""] }], to: [{ methods: ["FETCH"], paths: ["api"] }], when: [{ header: "X Bad", values: [] }], extra: 1 }]'));
    expect(e).toEqual(expect.arrayContaining([
      expect.stringMatching(/^spec\.action: must be one of ALLOW, DENY/),
      expect.stringMatching(/^spec\.rules\[0\]\.from\[0\]\.principals\[0\]: .*'\*' may only be/),
      expect.stringMatching(/^spec\.rules\[0\]\.from\[0\]\.principals\[1\]: /),
      expect.stringMatching(/^spec\.rules\[0\]\.to\[0\]\.methods\[0\]: must be one of/),
      expect.stringMatching(/^spec\.rules\[0\]\.to\[0\]\.paths\[0\]: 'api' must start with '\/'/),
      expect.stringMatching(/^spec\.rules\[0\]\.when\[0\]\.header: /),
      expect.stringMatching(/^spec\.rules\[0\]\.extra: unknown field/),
    ]));
  });
  it('rejects an unknown MeshConfig default action', () => {
    expect(errs('apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  authorization: { defaultAction: MAYBE }\n')).toEqual([expect.stringMatching(/^spec\.authorization\.defaultAction: must be one of ALLOW, DENY/)]);
  });
});

describe('sidecar RBAC decoding', () => {
  it('NACKs what it cannot enforce, with the field path', async () => {
    const { create } = await import('@bufbuild/protobuf');
    const { anyPack } = await import('@bufbuild/protobuf/wkt');
    const { RBACSchema } = await import('../../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js');
    const cfg = create(RBACSchema, { rules: { action: 0, policies: { x: { permissions: [{ rule: { case: 'destinationPort', value: 80 } }], principals: [{ identifier: { case: 'any', value: true } }] } } } });
    const p = new Problems('Listener/inbound');
    compileRbac(anyPack(RBACSchema, cfg), p, 'http_filters[0].typed_config');
    expect(p.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['http_filters[0].typed_config.rules.policies["x"].permissions[0]: unsupported permission \'destinationPort\'']);
  });
});
