// The dashboard's login on the admin server, in-process: static files without auth, POST
// /v1/login sets an HttpOnly SameSite=Strict cookie that is not the token and answers the
// session's secret; the cookie authenticates only with that secret in x-weft-csrf (reads too: the
// browser sends the cookie to every port of the host); a forged, foreign or expired cookie is
// refused, logout needs the secret and clears the cookie, and the bearer token works as before.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../control-plane/admin/server.js';
import { ControlPlane } from '../../../control-plane/control-plane.js';
import { validateStoredResource } from '../../../control-plane/config/index.js';
import { FileStore } from '../../../control-plane/store/file-store.js';
import { Sessions, SESSION_TTL_MS } from '../../../control-plane/dashboard/session.js';
import { tempDir } from '../../harness/processes.js';
import { selfSignedCert, tlsSecret } from '../../harness/certs.js';

const TOKEN = 'wa_test-admin-token-0123456789abcdefghijklmnopq';
const SERVICE = { name: 'svc.yaml', content: 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: orders }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' };

describe('dashboard login, session cookie and CSRF on the admin server', () => {
  let cp: ControlPlane;
  let admin: AdminServer;
  let other: AdminServer;
  let base: string;
  let otherBase: string;

  beforeAll(async () => {
    const dir = tempDir('weft-dash-');
    const assets = join(dir, 'dashboard');
    mkdirSync(assets);
    writeFileSync(join(assets, 'index.html'), '<!doctype html><title>Weft</title>');
    writeFileSync(join(assets, 'app.js'), 'console.log(1)');
    cp = new ControlPlane({ store: new FileStore(join(dir, 'data'), validateStoredResource) });
    await cp.start();
    const deps = { controlPlane: cp, token: TOKEN, proxyStatus: () => [], metrics: async () => '', dashboardDir: assets };
    admin = new AdminServer(deps);
    other = new AdminServer(deps); // another process: its own cookie key
    base = `http://127.0.0.1:${await admin.listen(0)}`;
    otherBase = `http://127.0.0.1:${await other.listen(0)}`;
  });
  afterAll(async () => {
    await admin?.close();
    await other?.close();
    await cp?.close();
  });

  const login = async (token: string, at = base) => fetch(`${at}/v1/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
  const applyBody = JSON.stringify({ files: [SERVICE] });

  it('serves the page and its assets without a token, with a same-origin-only CSP; nothing else under /dashboard/', async () => {
    const page = await fetch(`${base}/dashboard/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<title>Weft</title>');
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self';.*connect-src 'self'/);
    const js = await fetch(`${base}/dashboard/app.js`);
    expect(js.headers.get('content-type')).toContain('text/javascript');
    // Revalidated on each load: unchanged, a 304 (the browser keeps the script it compiled).
    expect(js.headers.get('cache-control')).toBe('no-cache');
    expect((await fetch(`${base}/dashboard/app.js`, { headers: { 'if-none-match': js.headers.get('etag')! } })).status).toBe(304);
    const bare = await fetch(`${base}/dashboard`, { redirect: 'manual' });
    expect([bare.status, bare.headers.get('location')]).toEqual([308, '/dashboard/']);
    expect((await fetch(`${base}/dashboard/admin-token`)).status).toBe(404);
    expect((await fetch(`${base}/dashboard/%2e%2e%2fadmin-token`)).status).toBe(404);
    // app.css is a known name but was not built here: 404 saying how to build it.
    const css = await fetch(`${base}/dashboard/app.css`);
    expect([css.status, await css.text()]).toEqual([404, expect.stringContaining('make build')]);
  });

  it('refuses a wrong token at login and sets no cookie', async () => {
    const r = await login('wa_wrong');
    expect(r.status).toBe(401);
    expect(r.headers.get('set-cookie')).toBeNull();
    expect((await fetch(`${base}/v1/resources`)).status).toBe(401);
  });

  /** A session: its cookie and the secret the login answered. */
  const session = async (at = base): Promise<{ cookie: string; csrf: string }> => {
    const r = await login(TOKEN, at);
    return { cookie: r.headers.get('set-cookie')!.split(';')[0]!, csrf: ((await r.json()) as { csrf: string }).csrf };
  };

  it('logs in with the admin token: an HttpOnly SameSite=Strict cookie that is not the token, and a secret; the two together authenticate reads', async () => {
    const r = await login(TOKEN);
    expect(r.status).toBe(200);
    const set = r.headers.get('set-cookie')!;
    expect(set).toMatch(/^weft_session=\d+\.[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(set).not.toContain(TOKEN);
    const { csrf } = (await r.json()) as { csrf: string };
    expect(csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const cookie = set.split(';')[0]!;
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie, 'x-weft-csrf': csrf } })).status).toBe(200);
    expect((await fetch(`${base}/v1/history`, { headers: { cookie, 'x-weft-csrf': csrf } })).status).toBe(200);
  });

  it('the cookie alone reads nothing (the browser sends it to every port of the host): a read needs the secret too, and another session\'s secret does not do', async () => {
    const a = await session();
    const b = await session(otherBase); // another process's session: another key
    const alone = await fetch(`${base}/v1/resources`, { headers: { cookie: a.cookie } });
    expect(alone.status).toBe(401);
    expect(((await alone.json()) as { message: string }).message).toContain('x-weft-csrf');
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: a.cookie, 'x-weft-csrf': '1' } })).status).toBe(401);
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: a.cookie, 'x-weft-csrf': b.csrf } })).status).toBe(401);
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: a.cookie, 'x-weft-csrf': a.csrf } })).status).toBe(200);
  });

  it('a change by cookie needs the secret; the bearer token needs none', async () => {
    const { cookie, csrf } = await session();
    const json = { 'content-type': 'application/json' };
    const refused = await fetch(`${base}/v1/apply`, { method: 'POST', headers: { ...json, cookie }, body: applyBody });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toContain('x-weft-csrf');
    expect(cp.list('Service')).toEqual([]);
    const ok = await fetch(`${base}/v1/apply`, { method: 'POST', headers: { ...json, cookie, 'x-weft-csrf': csrf }, body: applyBody });
    expect(ok.status).toBe(200);
    expect(cp.list('Service').map((s) => s.metadata.name)).toEqual(['orders']);
    const del = await fetch(`${base}/v1/resources/Service/default/orders`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(200);
    // Both changes are in the apply history, newest first.
    const history = (await (await fetch(`${base}/v1/history`, { headers: { cookie, 'x-weft-csrf': csrf } })).json()) as { items: Array<{ revision: number; changes: Array<{ key: string; action: string }> }> };
    expect(history.items.map((h) => h.changes)).toEqual([[{ key: 'Service/default/orders', action: 'deleted' }], [{ key: 'Service/default/orders', action: 'created' }]]);
    expect(history.items[0]!.revision).toBeGreaterThan(history.items[1]!.revision);
    // `weft delete -f` (POST /v1/delete) is in the history too.
    const bearer = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${base}/v1/apply`, { method: 'POST', headers: bearer, body: applyBody })).status).toBe(200);
    expect((await fetch(`${base}/v1/delete`, { method: 'POST', headers: bearer, body: JSON.stringify({ keys: ['Service/default/orders'] }) })).status).toBe(200);
    const after = (await (await fetch(`${base}/v1/history`, { headers: bearer })).json()) as { items: Array<{ changes: Array<{ key: string; action: string }> }> };
    expect(after.items[0]!.changes).toEqual([{ key: 'Service/default/orders', action: 'deleted' }]);
  });

  it("a Secret's YAML has its private key redacted, as every other admin answer", async () => {
    const c = selfSignedCert(['shop.example']);
    const put = await fetch(`${base}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name: 's.yaml', content: tlsSecret('shop-cert', c) }] }) });
    expect(put.status).toBe(200);
    const r = (await (await fetch(`${base}/v1/resources/Secret/default/shop-cert`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { yaml: string };
    expect(r.yaml).toContain('<redacted>');
    expect(r.yaml).not.toContain('PRIVATE KEY');
    expect(r.yaml).not.toContain(Buffer.from(c.keyPem).toString('base64').slice(0, 40));
  });

  it('refuses a forged cookie, one from another process, and an expired one; logout clears the cookie', async () => {
    const { cookie, csrf } = await session();
    const [ts, mac] = cookie.slice('weft_session='.length).split('.') as [string, string];
    const forged = `weft_session=${Number(ts) + 1}.${mac}`;
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: forged, 'x-weft-csrf': csrf } })).status).toBe(401);
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: `weft_session=${TOKEN}`, 'x-weft-csrf': csrf } })).status).toBe(401);
    expect((await fetch(`${otherBase}/v1/resources`, { headers: { cookie, 'x-weft-csrf': csrf } })).status).toBe(401);
    const s = new Sessions(TOKEN);
    const old = s.issue(Date.now() - SESSION_TTL_MS - 1).split(';')[0]!;
    expect(s.valid({ cookie: old })).toBe(false);
    expect(s.valid({ cookie: s.issue().split(';')[0]! })).toBe(true);
    // Logging out needs the session's secret (another site cannot end it).
    expect((await fetch(`${base}/v1/logout`, { method: 'POST', headers: { cookie } })).status).toBe(401);
    const out = await fetch(`${base}/v1/logout`, { method: 'POST', headers: { cookie, 'x-weft-csrf': csrf } });
    expect(out.headers.get('set-cookie')).toBe('weft_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
  });
});
