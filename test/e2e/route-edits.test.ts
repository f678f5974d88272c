// What HTTPRoute filters do to real traffic: a client sidecar (web) routes to two real instances of
// `orders` (subsets v1 and v2, each app + sidecar) under user-facing YAML applied with `weft apply`.
// Asserted on both ends: what the app received (its echo of the raw request headers, path and Host)
// and what the client got (status, Location, response headers), exact values throughout.
// Covers request and response header modifiers (set/add/remove), prefix, strip and full-path
// rewrites, host rewrite, redirects (scheme, host, port, path, prefix, status code), and weighted
// splits: 80/20 within binomial bounds, and an edit to 100/0 that sends exactly nothing to the 0 side.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, load, startControlPlane, startInstance, startSidecar, waitForHosts, weft, weftApply, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const V1 = 'outbound|8080|v1|orders.default';
const V2 = 'outbound|8080|v2|orders.default';

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;

/** The route under test; `split` is the weights of the /split rule's two backends (v1, v2). */
const route = (split: [number, number]) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-edits }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /hdr } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: x-custom, value: set-by-route }]
            add: [{ name: x-added, value: added-by-route }]
            remove: [x-drop-me]
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{ name: x-app, value: set-on-response }]
            add: [{ name: x-resp-added, value: one }]
            remove: [content-type]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /strip } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /full } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /replaced } } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /host } }]
      filters: [{ type: URLRewrite, urlRewrite: { hostname: rewritten.example } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /to-https } }]
      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, hostname: secure.example, statusCode: 301 } }]
    - matches: [{ path: { type: PathPrefix, value: /to-landing } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /landing }, statusCode: 308 } }]
    - matches: [{ path: { type: PathPrefix, value: /to-port } }]
      filters: [{ type: RequestRedirect, requestRedirect: { port: 8443, statusCode: 307 } }]
    - matches: [{ path: { type: PathPrefix, value: /moved } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /moved-here }, statusCode: 303 } }]
    - matches: [{ path: { type: PathPrefix, value: /gone } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-redirected-by, value: weft }] }
    - matches: [{ path: { type: PathPrefix, value: /to-host } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: other.example } }]
    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs:
        - { name: orders, subset: v1, weight: ${split[0]} }
        - { name: orders, subset: v2, weight: ${split[1]} }
    - matches: [{ path: { type: PathPrefix, value: /tslash/ } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /xyz } } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /rslash } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /xyz/ } } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: PathPrefix, value: /rdir-slash } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /xyz/ } } }]
    - matches: [{ path: { type: PathPrefix, value: /rdir-tslash/ } }]
      filters: [{ type: RequestRedirect, requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /xyz } } }]
`;

interface Answer {
  status: number;
  /** Response headers as sent, [name, value, ...] with names lowercased. */
  raw: string[];
  body: string;
}

/** One HTTP/1.1 GET through the client sidecar's outbound port, Host `orders` unless given. */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host: 'orders', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, raw: res.rawHeaders.map((h, i) => (i % 2 ? h : h.toLowerCase())), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Every value of header `name` in a flat [name, value, ...] list, in order. */
function values(raw: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) out.push(raw[i + 1]!);
  return out;
}

interface Echo {
  name: string;
  url: string;
  raw: string[];
}

describe('HTTPRoute filters and splits through real sidecars', () => {
  let cp: ControlPlaneProc;
  let web: SidecarProc;
  let v1: Instance;
  let v2: Instance;

  async function apply(yaml: string, name: string): Promise<void> {
    const r = await weftApply(cp, yaml, name);
    expect(r.code, r.stderr).toBe(0);
  }

  /** The route named `name` as the client sidecar accepted it (proto3 JSON from /config_dump). */
  async function acceptedRoute(name: string): Promise<Record<string, unknown> | undefined> {
    const dump = (await (await fetch(`${web.admin}/config_dump`)).json()) as { routes: Array<{ name: string; virtualHosts?: Array<{ routes?: Array<{ name: string }> }> }> };
    for (const rc of dump.routes) for (const vh of rc.virtualHosts ?? []) for (const r of vh.routes ?? []) if (r.name === name) return r as Record<string, unknown>;
    return undefined;
  }

  /** The weights of the /split rule the client sidecar holds, by cluster ({} when none yet). */
  async function splitWeights(): Promise<Record<string, number>> {
    const r = (await acceptedRoute('default/orders-edits/rule-11')) as { route?: { cluster?: string; weightedClusters?: { clusters: Array<{ name: string; weight: number }> } } } | undefined;
    if (r?.route?.cluster) return { [r.route.cluster]: 1 };
    return Object.fromEntries((r?.route?.weightedClusters?.clusters ?? []).map((c) => [c.name, c.weight]));
  }

  async function seenBy(inst: Instance): Promise<string[]> {
    const list = (await (await fetch(`http://127.0.0.1:${inst.app.port}/_seen`)).json()) as Array<{ url: string }>;
    return list.map((s) => s.url);
  }

  beforeAll(async () => {
    cp = await startControlPlane();
    await apply(MESH, 'mesh.yaml');
    await apply(route([80, 20]), 'route.yaml');
    [v1, v2, web] = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-v1', { labels: { version: 'v1' }, appEnv: { ECHO_RAW: '1' } }),
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-v2', { labels: { version: 'v2' }, appEnv: { ECHO_RAW: '1' } }),
      startSidecar(cp.xdsPort, { service: 'web', appPort: 1 }),
    ]);
    await waitForHosts(web, V1, 1);
    await waitForHosts(web, V2, 1);
    // The sidecar holds the route as applied (rule-11 is /split, the last rule).
    await eventually(async () => JSON.stringify(await splitWeights()) === JSON.stringify({ [V1]: 80, [V2]: 20 }));
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), v1?.kill(), v2?.kill(), cp?.kill()]);
  });

  it('request header modifier: set overwrites, add appends, remove drops; other headers pass untouched', async () => {
    const r = await get(web.outboundPort, '/hdr/x?q=1', { 'x-custom': 'from-client', 'x-added': 'from-client', 'x-drop-me': 'secret', 'x-keep': 'kept' });
    expect(r.status).toBe(200);
    const j = JSON.parse(r.body) as Echo;
    expect(j.name).toBe('orders-v1');
    expect(j.url).toBe('/hdr/x?q=1');
    expect(values(j.raw, 'x-custom')).toEqual(['set-by-route']);
    expect(values(j.raw, 'x-added')).toEqual(['from-client', 'added-by-route']);
    expect(values(j.raw, 'x-drop-me')).toEqual([]);
    expect(values(j.raw, 'x-keep')).toEqual(['kept']);
    // Without the client's copies: set and add both create the header once.
    const bare = JSON.parse((await get(web.outboundPort, '/hdr')).body) as Echo;
    expect(values(bare.raw, 'x-custom')).toEqual(['set-by-route']);
    expect(values(bare.raw, 'x-added')).toEqual(['added-by-route']);
  });

  it('response header modifier: set overwrites the app\'s header, add adds, remove drops', async () => {
    const r = await get(web.outboundPort, '/hdr');
    expect(r.status).toBe(200);
    expect(values(r.raw, 'x-app')).toEqual(['set-on-response']);
    expect(values(r.raw, 'x-resp-added')).toEqual(['one']);
    expect(values(r.raw, 'content-type')).toEqual([]);
    // The body is still the app's (the edit touched headers only).
    expect((JSON.parse(r.body) as Echo).name).toBe('orders-v1');
    // A path no rule with filters matches gets the app's headers as they were.
    const plain = await get(web.outboundPort, '/other');
    expect(values(plain.raw, 'x-app')).toEqual([expect.stringMatching(/^orders-v[12]$/)]);
    expect(values(plain.raw, 'content-type')).toEqual(['application/json']);
    expect(values(plain.raw, 'x-resp-added')).toEqual([]);
  });

  it('ReplacePrefixMatch rewrites only the matched prefix, at path-segment boundaries, keeping the query', async () => {
    const cases: Array<[string, string]> = [
      ['/old/a/b?q=1', '/new/a/b?q=1'],
      ['/old', '/new'],
      ['/old/', '/new/'],
      ['/strip/x/y?z=2', '/x/y?z=2'],
      ['/strip', '/'],
      ['/strip/', '/'],
      // Gateway API: a trailing slash on the prefix or on the replacement changes nothing.
      ['/tslash/bar', '/xyz/bar'],
      ['/rslash/bar', '/xyz/bar'],
      ['/rslash', '/xyz'],
    ];
    for (const [sent, want] of cases) {
      const r = await get(web.outboundPort, sent);
      expect(r.status, sent).toBe(200);
      expect((JSON.parse(r.body) as Echo).url, sent).toBe(want);
    }
    // /older is not under the prefix /old: no rule of the route matches, the path stays.
    expect((JSON.parse((await get(web.outboundPort, '/older')).body) as Echo).url).toBe('/older');
  });

  it('ReplaceFullPath replaces the whole path and keeps the query', async () => {
    for (const [sent, want] of [['/full', '/replaced'], ['/full/deep/er?a=1&b=2', '/replaced?a=1&b=2']] as const) {
      const r = await get(web.outboundPort, sent);
      expect(r.status, sent).toBe(200);
      expect((JSON.parse(r.body) as Echo).url, sent).toBe(want);
    }
  });

  it('URLRewrite hostname: the app gets the new Host, the path stays', async () => {
    const r = await get(web.outboundPort, '/host/p?x=1');
    expect(r.status).toBe(200);
    const j = JSON.parse(r.body) as Echo;
    expect(values(j.raw, 'host')).toEqual(['rewritten.example']);
    expect(j.url).toBe('/host/p?x=1');
    // Without the rewrite the app sees the client's Host.
    expect(values((JSON.parse((await get(web.outboundPort, '/other')).body) as Echo).raw, 'host')).toEqual(['orders']);
  });

  it('RequestRedirect answers with the configured status and Location, and never reaches the app', async () => {
    const cases: Array<[string, Record<string, string>, number, string]> = [
      // scheme + hostname: the port goes (the scheme's default), path and query stay.
      ['/to-https/a?y=1', {}, 301, 'https://secure.example/to-https/a?y=1'],
      ['/to-https/a', { host: 'orders:8080' }, 301, 'https://secure.example/to-https/a'],
      ['/to-landing/x?y=1', {}, 308, 'http://orders/landing?y=1'],
      ['/to-port/p', {}, 307, 'http://orders:8443/to-port/p'],
      ['/to-port/p', { host: 'orders:8080' }, 307, 'http://orders:8443/to-port/p'],
      ['/moved/a/b?c=d', {}, 303, 'http://orders/moved-here/a/b?c=d'],
      ['/moved', {}, 303, 'http://orders/moved-here'],
      // statusCode defaults to 302.
      ['/to-host/z', {}, 302, 'http://other.example/to-host/z'],
      ['/gone/x/y', {}, 302, 'http://orders/x/y'],
      ['/gone', {}, 302, 'http://orders/'],
      ['/rdir-slash/bar', {}, 302, 'http://orders/xyz/bar'],
      ['/rdir-tslash/bar', {}, 302, 'http://orders/xyz/bar'],
    ];
    for (const [path, headers, status, location] of cases) {
      const r = await get(web.outboundPort, path, headers);
      expect(r.status, path).toBe(status);
      expect(values(r.raw, 'location'), path).toEqual([location]);
      expect(r.body, path).toBe('');
    }
    // A redirect rule's ResponseHeaderModifier applies to the redirect itself.
    expect(values((await get(web.outboundPort, '/gone/x')).raw, 'x-redirected-by')).toEqual(['weft']);
    // Each answer above came back before anything could have reached an app: nothing did.
    const seen = [...(await seenBy(v1)), ...(await seenBy(v2))];
    expect(seen.filter((u) => /^\/(to-|moved|gone|rdir-)/.test(u))).toEqual([]);
  });

  it('weighted split 80/20: each backend within 4.5 sigma of its binomial expectation', async () => {
    const N = 2000;
    const r = await load(web.outboundPort, { host: 'orders', total: N, concurrency: 8, path: '/split' });
    figure('split 80/20', { ...r.byName, failures: r.failures });
    expect(r.failures).toEqual({});
    expect(r.ok).toBe(N);
    const got = r.byName['orders-v2'] ?? 0;
    // Binomial(N, 0.2): mean 400, sigma sqrt(N p (1-p)) ~ 17.9; 4.5 sigma ~ 80 (a false failure
    // about once in 150,000 runs), while 70/30 (mean 600) or 90/10 (mean 200) are far outside.
    const mean = N * 0.2;
    const sigma = Math.sqrt(N * 0.2 * 0.8);
    expect(Math.abs(got - mean), JSON.stringify(r.byName)).toBeLessThanOrEqual(4.5 * sigma);
    expect(r.byName['orders-v1']! + got).toBe(N);
  });

  it('an edit to 100/0 sends exactly nothing to the 0 side', async () => {
    const old = JSON.stringify(await splitWeights());
    await apply(route([100, 0]), 'route.yaml');
    // The sidecar holds the edited rule (whatever it became; what it must be is asserted below).
    await eventually(async () => {
      const w = JSON.stringify(await splitWeights());
      return w !== '{}' && w !== old;
    });
    const before = (await seenBy(v2)).length;
    const N = 500;
    const r = await load(web.outboundPort, { host: 'orders', total: N, concurrency: 8, path: '/split' });
    figure('split 100/0', { ...r.byName, failures: r.failures });
    expect(r.failures).toEqual({});
    expect(r.byName).toEqual({ 'orders-v1': N });
    // v2's app saw nothing of it either (all N answers are in, so nothing is still on its way).
    expect((await seenBy(v2)).length).toBe(before);
    // A weight of 0 leaves v2 out of the route altogether: one cluster, v1.
    expect(await splitWeights()).toEqual({ [V1]: 1 });
  });
});
