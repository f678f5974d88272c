// Issue 16, through real sidecars and a real control plane: what an attacker (or a careless
// client) sends must never crash a sidecar, smuggle a request past routing or authorization,
// or reach the app in a form the policies did not see.
//   web (client) -> sidecar A outbound -> sidecar B inbound (RBAC) -> orders / reports apps
import http2 from 'node:http2';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: reports }
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
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: orders-no-admin }
spec:
  service: orders
  action: DENY
  rules:
    - to: [{ paths: ["/admin", "/admin/*"] }]
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: reports-public-only }
spec:
  service: reports
  action: ALLOW
  rules:
    - to: [{ paths: ["/public/*"] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-ws-split }
spec:
  parentRefs: [{ name: orders, port: 8080 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /ws-split } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /rewritten } } }]
      backendRefs: [{ name: orders, port: 8080, subset: v1, weight: 1 }, { name: orders, port: 8080, subset: v2, weight: 1 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop-www }
spec:
  parentRefs: [{ name: orders, port: 8080 }]
  hostnames: [www.shop.example]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, statusCode: 301 } }]
`;

/** One raw exchange on a fresh connection: everything the peer sent until it closed (or `ms` passed). */
function raw(port: number, parts: Array<string | Buffer>, ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      resolve({ text, closed });
    };
    const t = setTimeout(() => finish(false), ms);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.on('connect', async () => {
      for (const p of parts) {
        s.write(p);
        await new Promise((r) => setTimeout(r, 0));
      }
    });
  });
}

/** The body of a raw HTTP/1.1 response (content-length or chunked). */
function bodyOf(text: string): string {
  const at = text.indexOf('\r\n\r\n');
  const head = text.slice(0, at);
  let rest = text.slice(at + 4);
  if (!/\r\ntransfer-encoding: chunked\r?$/im.test(head)) return rest;
  let out = '';
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const n = parseInt(rest.slice(0, nl), 16);
    if (!n) return out;
    out += rest.slice(nl + 2, nl + 2 + n);
    rest = rest.slice(nl + 2 + n + 2);
  }
}

interface Seen {
  method: string;
  url: string;
  done: boolean;
  closed?: boolean;
  upgrade?: string;
}

describe('hardening through real sidecars', () => {
  let cp: ControlPlaneProc;
  let a: SidecarProc;
  let orders1: Instance;
  let orders2: Instance;
  let reports: Instance;
  const seen = async (i: Instance): Promise<Seen[]> => (await (await fetch(`http://127.0.0.1:${i.app.port}/_seen`)).json()) as Seen[];
  const uncaught = async (s: SidecarProc): Promise<number> => {
    const m = /^weft_sidecar_uncaught_errors_total(?:\{\})? (\d+)/m.exec(await (await fetch(`${s.admin}/stats/prometheus`)).text());
    return Number(m?.[1] ?? NaN);
  };
  const alive = async (s: SidecarProc) => (await fetch(`${s.admin}/ready`)).status;

  beforeAll(async () => {
    cp = await startControlPlane();
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, MESH);
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    [orders1, orders2, reports, a] = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-1', { labels: { version: 'v1' } }),
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-2', { labels: { version: 'v2' } }),
      startInstance(cp.xdsPort, 'http', 'reports', 'reports-1'),
      startSidecar(cp.xdsPort, { service: 'web', appPort: 0 }), // a client: no app (its /ready is checked)
    ]);
    await waitForHosts(a, 'outbound|8080||orders.default', 2);
    await waitForHosts(a, 'outbound|8080|v1|orders.default', 1);
    await waitForHosts(a, 'outbound|8080|v2|orders.default', 1);
    await waitForHosts(a, 'outbound|8080||reports.default', 1);
  });
  afterAll(async () => {
    await Promise.all([a?.kill('SIGKILL'), orders1?.kill(), orders2?.kill(), reports?.kill(), cp?.kill()]);
  });

  // --- item 1: no remote crash ------------------------------------------------------------
  const MALFORMED: Array<[string, string]> = [
    ['a chunk size that is not hex', 'zz\r\nhello\r\n0\r\n\r\n'],
    ['a chunk size that overflows', 'fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'],
    ['garbage in a chunk extension', '5;\x01\r\nhello\r\n0\r\n\r\n'],
    ['a bare LF after the chunk size', '5\nhello\r\n0\r\n\r\n'],
    ['a chunk longer than its size', '2\r\nhello\r\n0\r\n\r\n'],
    ['a bare LF after the last chunk', '0\n\r\n'],
    ['a malformed trailer', '0\r\nbad trailer\r\n\r\n'],
  ];
  const heads: Array<[string, (path: string) => string]> = [
    ['chunked', (p) => `POST ${p} HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\n\r\n`],
  ];

  it.each(MALFORMED)('a chunked body with %s in the same read as the head gets 400, both listeners keep serving, the app never sees it complete', async (name, body) => {
    const path = `/malformed-${name.replace(/\W+/g, '-')}`;
    for (const port of [a.outboundPort, orders1.sidecar.inboundPort]) {
      const r = await raw(port, [heads[0]![1](path) + body]);
      expect(r.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      expect(r.text).toContain('x-weft-error: BAD_REQUEST');
      expect(r.closed).toBe(true);
    }
    expect(await alive(a)).toBe(200);
    expect(await alive(orders1.sidecar)).toBe(200);
    const got = [...(await seen(orders1)), ...(await seen(orders2))].filter((s) => s.url === path);
    expect(got.filter((s) => s.done)).toEqual([]);
  });

  it.each([
    ['an invalid Transfer-Encoding token', 'POST /te HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['Transfer-Encoding with Content-Length', 'POST /te HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: orders\r\nHost: reports\r\n\r\n'],
    ['a Host with whitespace', 'GET / HTTP/1.1\r\nHost: orders reports\r\n\r\n'],
    ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: evil@orders\r\n\r\n'],
  ])('%s gets 400 and reaches no app', async (_name, text) => {
    for (const port of [a.outboundPort, orders1.sidecar.inboundPort]) {
      const r = await raw(port, [text]);
      expect(r.text).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    }
    expect((await seen(orders1)).filter((s) => s.url === '/te')).toEqual([]);
  });

  it('a body that turns malformed after the head went upstream resets the upstream request: the app never sees it complete', async () => {
    const path = '/late-malformed';
    const s = net.connect(a.outboundPort, '127.0.0.1');
    let text = '';
    const closed = new Promise<void>((r) => s.on('close', () => r()));
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => undefined);
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(`POST ${path} HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
    // The app has the head (and the first chunk): the request is in flight upstream.
    await eventually(async () => [...(await seen(orders1)), ...(await seen(orders2))].some((x) => x.url === path));
    s.write('zz\r\nworld\r\n0\r\n\r\n');
    await closed;
    expect(text === '' || /^HTTP\/1\.1 400 /.test(text)).toBe(true);
    // The app's request was cut (its socket reset), never completed: decided once the app's side
    // of the exchange is over, not after a sleep.
    const got = await eventually(async () => {
      const g = [...(await seen(orders1)), ...(await seen(orders2))].filter((x) => x.url === path);
      return g.every((x) => x.closed) ? g : undefined;
    });
    expect(got).toHaveLength(1);
    expect(got[0]!.done).toBe(false);
    expect(await alive(a)).toBe(200);
  });

  // --- item 2: Upgrade is a tunnel only after 101 -------------------------------------------
  it('an Upgrade the app answers 200 is not a tunnel: the bytes after it never reach the app as a request', async () => {
    const smuggled = 'GET /admin/secret HTTP/1.1\r\nHost: orders\r\n\r\n';
    const r = await raw(a.outboundPort, [`GET /no-upgrade HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n${smuggled}`]);
    expect(r.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.text).toMatch(/connection: close\r\n\r\nno$/);
    expect(r.closed).toBe(true);
    const all = [...(await seen(orders1)), ...(await seen(orders2))];
    expect(all.some((x) => x.url === '/no-upgrade')).toBe(true);
    expect(all.filter((x) => x.url.startsWith('/admin'))).toEqual([]);
  });

  it('an Upgrade is authorized like any request (an AuthorizationPolicy DENY answers 403, nothing reaches the app)', async () => {
    const r = await raw(a.outboundPort, ['GET /admin/ws HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello']);
    expect(r.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(r.text).toContain('x-weft-error: RBAC_DENIED');
    const all = [...(await seen(orders1)), ...(await seen(orders2))];
    expect(all.filter((x) => x.url.startsWith('/admin'))).toEqual([]);
  });

  it('an Upgrade follows weighted clusters and rewrites, and tunnels after 101', async () => {
    const apps = new Set<string>();
    for (let i = 0; i < 24 && apps.size < 2; i++) {
      const r = await raw(a.outboundPort, ['GET /ws-split/chat HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nping'], 1000);
      expect(r.text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(r.text).toMatch(/x-url: \/rewritten\/chat\r\n/);
      // The tunnel echoes the bytes sent after the head.
      expect(r.text.endsWith('\r\n\r\nping')).toBe(true);
      apps.add(/x-app: (\S+)/.exec(r.text)![1]!);
    }
    expect([...apps].sort()).toEqual(['orders-1', 'orders-2']);
  });

  // Sibling of item 1 on h2: an answer that does not need the request body (here gRPC's
  // trailers-only UNAVAILABLE/NOT_FOUND for a host with no route) ends the stream for the client
  // with RST_STREAM NO_ERROR, instead of leaving it half open while the client uploads.
  it('an h2 answer given before the request body ended closes the stream (RST_STREAM NO_ERROR), not half open', async () => {
    const session = http2.connect(`http://127.0.0.1:${a.outboundPort}`);
    session.on('error', () => undefined);
    try {
      for (const [authority, type] of [['nowhere', 'application/grpc'], ['nowhere', 'application/json']] as const) {
        const st = session.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', ':authority': authority, 'content-type': type });
        st.on('error', () => undefined);
        st.write(Buffer.alloc(1000)); // and never end: a client still uploading
        const head = await new Promise<http2.IncomingHttpHeaders>((r) => st.once('response', r));
        st.resume();
        const closed = await Promise.race([
          new Promise<number>((r) => st.once('close', () => r(st.rstCode ?? -1))),
          new Promise<string>((r) => setTimeout(() => r('still open after 5 s'), 5000).unref()),
        ]);
        expect([type, head[':status'], closed]).toEqual([type, type === 'application/grpc' ? 200 : 404, http2.constants.NGHTTP2_NO_ERROR]);
      }
    } finally {
      session.destroy();
    }
    expect(await alive(a)).toBe(200);
  });

  it('Upgrade types that are not enabled get 403 UPGRADE_NOT_ALLOWED; h2c is served as a plain request', async () => {
    const foo = await raw(a.outboundPort, ['GET /x HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n']);
    expect(foo.text).toMatch(/^HTTP\/1\.1 403 /);
    expect(foo.text).toContain('x-weft-error: UPGRADE_NOT_ALLOWED');
    const h2c = await raw(a.outboundPort, ['GET /h2c HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n']);
    expect(h2c.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const body = JSON.parse(bodyOf(h2c.text)) as { url: string; headers: Record<string, string | undefined> };
    expect(body.url).toBe('/h2c');
    expect(body.headers.upgrade).toBeUndefined();
    expect(body.headers['http2-settings']).toBeUndefined();
  });

  // --- item 3: paths are normalized before routing and authorization ---------------------------
  // [path as sent, what orders (DENY /admin, /admin/*) does, what reports (ALLOW /public/* only) does]
  // An expectation is a status, or the normalized path the app must receive (200).
  const PATHS: Array<[string, number | string, number | string]> = [
    ['/admin', 403, 403],
    ['/admin/x', 403, 403],
    ['/./admin', 403, 403],
    ['//admin', 403, 403],
    ['///admin//x', 403, 403],
    ['/public/../admin', 403, 403],
    ['/../admin', 403, 403],
    ['/a/b/../../admin/x', 403, 403],
    ['/%61dmin', 403, 403],
    ['/%2e%2e/admin', 403, 403],
    ['/%2E%2E/admin/x', 403, 403],
    ['/.%2e/admin', 403, 403],
    ['/public/%2e%2e/admin', 403, 403],
    ['/admin/.', 403, 403],
    ['/%41dmin', '/Admin', 403],
    ['/public/x', '/public/x', '/public/x'],
    ['/public/./x', '/public/x', '/public/x'],
    ['/public//x', '/public/x', '/public/x'],
    ['/public/a/../x', '/public/x', '/public/x'],
    ['/%70ublic/x', '/public/x', '/public/x'],
    ['/public/%7e%2D%5f', '/public/~-_', '/public/~-_'],
    ['/public/%c3%a9', '/public/%C3%A9', '/public/%C3%A9'],
    ['/public/../private', '/private', 403],
    ['/public/%2e%2e/private', '/private', 403],
    ['/admin%2Fx', 400, 400],
    ['/%2Fadmin', 400, 400],
    ['/admin%5Cx', 400, 400],
    ['/%zzadmin', 400, 400],
    ['/admin%2', 400, 400],
  ];

  it.each(PATHS)('%s: orders (DENY /admin*) -> %s, reports (ALLOW /public/*) -> %s', async (path, ordersWant, reportsWant) => {
    for (const [host, want] of [['orders', ordersWant], ['reports', reportsWant]] as const) {
      const r = await raw(a.outboundPort, [`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`]);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(r.text)?.[1]);
      if (typeof want === 'number') {
        expect(status, `${host} ${path}: ${r.text.slice(0, 200)}`).toBe(want);
      } else {
        expect(status, `${host} ${path}: ${r.text.slice(0, 200)}`).toBe(200);
        expect((JSON.parse(bodyOf(r.text)) as { url: string }).url).toBe(want);
      }
    }
  });

  it('no app ever received a path the policies denied, in any spelling', async () => {
    const all = [...(await seen(orders1)), ...(await seen(orders2))];
    expect(all.filter((x) => /admin/i.test(decodeURIComponent(x.url.replace(/%(?![0-9a-f]{2})/gi, '%25'))) && x.url !== '/Admin')).toEqual([]);
    expect((await seen(reports)).filter((x) => !x.url.startsWith('/public/'))).toEqual([]);
  });

  // --- item 4: a route's hostnames select its virtual host ----------------------------------------
  it("a redirect route for www.shop.example applies to that host only, never to the service's own names", async () => {
    const own = await raw(a.outboundPort, ['GET /page HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n']);
    expect(own.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const www = await raw(a.outboundPort, ['GET /page HTTP/1.1\r\nHost: www.shop.example\r\nConnection: close\r\n\r\n']);
    expect(www.text).toMatch(/^HTTP\/1\.1 301 /);
    expect(www.text).toContain('location: https://www.shop.example/page');
  });

  it('no sidecar crashed or needed its last-resort guard', async () => {
    for (const s of [a, orders1.sidecar, orders2.sidecar, reports.sidecar]) {
      expect(await alive(s)).toBe(200);
      expect(await uncaught(s)).toBe(0);
    }
  });
});
