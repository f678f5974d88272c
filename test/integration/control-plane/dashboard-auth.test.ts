// The dashboard's login on the admin server, in-process: static files without auth, POST
// /v1/login sets an HttpOnly SameSite=Strict cookie that is not the token, the cookie then
// authenticates reads, a change by cookie needs x-weft-csrf: 1, a forged, foreign or expired
// cookie is refused, logout clears it, and the bearer token works as before.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../control-plane/admin/server.js';
import { ControlPlane } from '../../../control-plane/control-plane.js';
import { validateStoredResource } from '../../../control-plane/config/index.js';
import { FileStore } from '../../../control-plane/store/file-store.js';
import { Sessions, SESSION_TTL_MS } from '../../../control-plane/dashboard/session.js';
import { tempDir } from '../../harness/processes.js';

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

  it('logs in with the admin token: an HttpOnly SameSite=Strict cookie that is not the token authenticates reads', async () => {
    const r = await login(TOKEN);
    expect(r.status).toBe(200);
    const set = r.headers.get('set-cookie')!;
    expect(set).toMatch(/^weft_session=\d+\.[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(set).not.toContain(TOKEN);
    const cookie = set.split(';')[0]!;
    const read = await fetch(`${base}/v1/resources`, { headers: { cookie } });
    expect(read.status).toBe(200);
    expect((await fetch(`${base}/v1/history`, { headers: { cookie } })).status).toBe(200);
  });

  it('needs x-weft-csrf: 1 for a change by cookie; the bearer token needs none', async () => {
    const cookie = (await login(TOKEN)).headers.get('set-cookie')!.split(';')[0]!;
    const json = { 'content-type': 'application/json' };
    const refused = await fetch(`${base}/v1/apply`, { method: 'POST', headers: { ...json, cookie }, body: applyBody });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toContain('x-weft-csrf: 1');
    expect(cp.list('Service')).toEqual([]);
    const ok = await fetch(`${base}/v1/apply`, { method: 'POST', headers: { ...json, cookie, 'x-weft-csrf': '1' }, body: applyBody });
    expect(ok.status).toBe(200);
    expect(cp.list('Service').map((s) => s.metadata.name)).toEqual(['orders']);
    const del = await fetch(`${base}/v1/resources/Service/default/orders`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } });
    expect(del.status).toBe(200);
    // Both changes are in the apply history, newest first.
    const history = (await (await fetch(`${base}/v1/history`, { headers: { cookie } })).json()) as { items: Array<{ revision: number; changes: Array<{ key: string; action: string }> }> };
    expect(history.items.map((h) => h.changes)).toEqual([[{ key: 'Service/default/orders', action: 'deleted' }], [{ key: 'Service/default/orders', action: 'created' }]]);
    expect(history.items[0]!.revision).toBeGreaterThan(history.items[1]!.revision);
  });

  it('refuses a forged cookie, one from another process, and an expired one; logout clears the cookie', async () => {
    const cookie = (await login(TOKEN)).headers.get('set-cookie')!.split(';')[0]!;
    const [ts, mac] = cookie.slice('weft_session='.length).split('.') as [string, string];
    const forged = `weft_session=${Number(ts) + 1}.${mac}`;
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: forged } })).status).toBe(401);
    expect((await fetch(`${base}/v1/resources`, { headers: { cookie: `weft_session=${TOKEN}` } })).status).toBe(401);
    expect((await fetch(`${otherBase}/v1/resources`, { headers: { cookie } })).status).toBe(401);
    const s = new Sessions(TOKEN);
    const old = s.issue(Date.now() - SESSION_TTL_MS - 1).split(';')[0]!;
    expect(s.valid({ cookie: old })).toBe(false);
    expect(s.valid({ cookie: s.issue().split(';')[0]! })).toBe(true);
    const out = await fetch(`${base}/v1/logout`, { method: 'POST' });
    expect(out.headers.get('set-cookie')).toBe('weft_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0');
  });
});
