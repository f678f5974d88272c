// CorsPolicy proven from a page in headless Chromium: a `weft gateway` process (configured with
// `weft apply`) routes to an in-process upstream; a page served from another origin fetch()es the
// gateway with credentials and a custom header. The browser's preflight is answered at the
// gateway (the upstream never sees an OPTIONS), the actual request carries the page's cookie, and
// the page reads the exposed header. The same page from an origin the policy does not allow gets
// a TypeError, as a browser reports a CORS refusal. Only a browser enforces CORS, so only a
// browser proves the headers are right.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchBrowser, pageServer, type PageServer } from '../harness/browser.js';
import { eventually, freePort, startControlPlane, startGateway, weftApply, type ControlPlaneProc, type GatewayProc } from '../harness/processes.js';
import { edgeGateway, PLAINTEXT_MESH, service, upstream, type Upstream } from '../harness/sidecar.js';

const PAGE = '<!doctype html><html><head><title>app</title></head><body>app</body></html>';

const config = (gwPort: number, appOrigin: string, upstreamPort: number) => `${PLAINTEXT_MESH}---
${service('orders', [upstreamPort])}---
${edgeGateway([{ name: 'web', port: gwPort }])}---
apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: app }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  allowOrigins: [{ exact: "${appOrigin}" }]
  allowMethods: [GET, PUT]
  allowHeaders: [x-token, content-type]
  exposeHeaders: [x-request-id]
  allowCredentials: true
  maxAge: 1m
`;

/** What the page saw of its fetch. */
type Outcome = { ok: true; status: number; requestId: string | null; body: string } | { ok: false; name: string; message: string };

/** In the page: a credentialed PUT with a custom header to `url`, after setting a cookie. */
function pageFetch(url: string): Promise<Outcome> {
  // Runs in the page (a browser global, not in Node's types).
  (globalThis as unknown as { document: { cookie: string } }).document.cookie = 'session=s1; path=/';
  return fetch(url, { method: 'PUT', credentials: 'include', headers: { 'x-token': 't1', 'content-type': 'application/json' }, body: '{"n":1}' }).then(
    async (r) => ({ ok: true as const, status: r.status, requestId: r.headers.get('x-request-id'), body: await r.text() }),
    (e: Error) => ({ ok: false as const, name: e.name, message: e.message }),
  );
}

describe('CorsPolicy at a weft gateway, from a page in Chromium', () => {
  let cp: ControlPlaneProc;
  let gw: GatewayProc;
  let up: Upstream;
  let app: PageServer;
  let other: PageServer;
  let browser: Browser;
  let gwUrl: string;

  beforeAll(async () => {
    up = await upstream((_q, s) => {
      s.setHeader('x-request-id', 'r-42');
      s.setHeader('content-type', 'application/json');
      s.end('{"saved":true}');
    });
    // Two origins for the same page: 127.0.0.1 (allowed) and localhost (not).
    [app, other, cp, browser] = await Promise.all([pageServer(PAGE, '127.0.0.1'), pageServer(PAGE, 'localhost'), startControlPlane(), launchBrowser()]);
    const gwPort = await freePort();
    gwUrl = `http://127.0.0.1:${gwPort}/orders/1`;
    const r = await weftApply(cp, config(gwPort, app.origin, up.port), 'cors.yaml');
    expect(r.code, r.stderr).toBe(0);
    gw = await startGateway(cp.xdsPort, 'default/edge');
    // Serving once a request with the allowed Origin comes back with the CORS headers.
    await eventually(async () => {
      const x = await fetch(gwUrl, { headers: { origin: app.origin } }).catch(() => undefined);
      return x?.headers.get('access-control-allow-origin') === app.origin ? true : undefined;
    }, 20_000, 100);
  }, 90_000);
  afterAll(async () => {
    await browser?.close();
    await Promise.all([gw?.kill(), cp?.kill(), up?.close(), app?.close(), other?.close()]);
  });

  it('answers the preflight at the gateway; the credentialed request goes through and the page reads the exposed header', async () => {
    const before = up.seen.length;
    const page = await browser.newPage();
    await page.goto(app.url);
    const out = await page.evaluate(pageFetch, gwUrl);
    await page.close();
    expect(out).toEqual({ ok: true, status: 200, requestId: 'r-42', body: '{"saved":true}' });
    const seen = up.seen.slice(before);
    // The upstream saw the PUT only: the preflight never left the gateway.
    expect(seen.map((s) => s.method)).toEqual(['PUT']);
    expect([seen[0]!.headers.origin, seen[0]!.headers['x-token'], seen[0]!.headers.cookie]).toEqual([app.origin, 't1', 'session=s1']);
  });

  it('refuses the same fetch from an origin the policy does not allow: TypeError in the page, nothing upstream', async () => {
    const before = up.seen.length;
    const page = await browser.newPage();
    await page.goto(other.url);
    const out = await page.evaluate(pageFetch, gwUrl);
    await page.close();
    expect(out).toMatchObject({ ok: false, name: 'TypeError' });
    expect(up.seen.length).toBe(before);
  });
});
