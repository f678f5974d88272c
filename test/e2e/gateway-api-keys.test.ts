// Consumers and API keys end to end, real processes: a control plane, a `weft gateway` whose web
// listener has an ApiKeyPolicy, and `orders` (app + sidecar) whose Service has one too (its
// sidecar checks keys on its inbound listener). The key comes from `weft key issue`; curl and
// undici call with it; the app sees x-weft-consumer and never the key; the consumer is in the
// gateway's access log and on the sidecar's SERVER span; after `weft key revoke` the next call
// gets 401 (waiting on that condition, not on a sleep).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredSpan } from '../../control-plane/telemetry/trace-store.js';
import { eventually, freePort, startControlPlane, startGateway, startInstance, tempDir, weft, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';
import { edgeGateway } from '../harness/sidecar.js';

const run = promisify(execFile);

const config = (web: number, open: number) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
${edgeGateway([{ name: 'web', port: web }, { name: 'open', port: open }])}---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: edge-keys }
spec:
  header: x-api-key
  query: api_key
  # The key goes on to the orders sidecar, which checks it again (and hides it from the app).
  hideCredentials: false
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: orders-keys }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
`;

/** The app's echo: every request header as it received it (ECHO_RAW). */
function rawHeaders(body: string): Record<string, string> {
  const raw = (JSON.parse(body) as { raw: string[] }).raw;
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) out[raw[i]!.toLowerCase()] = raw[i + 1]!;
  return out;
}

describe('Consumers and API keys: gateway and sidecar', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let gw: GatewayProc;
  let web: number;
  let open: number;
  let key: string;
  let keyId: string;
  let accessLog: string;

  const curl = async (port: number, path: string, ...args: string[]) => {
    const r = await run('curl', ['-sS', '-i', ...args, `http://127.0.0.1:${port}${path}`]);
    const [head, ...rest] = r.stdout.split('\r\n\r\n');
    const lines = head!.split('\r\n');
    const headers = Object.fromEntries(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
    return { status: Number(lines[0]!.split(' ')[1]), headers, body: rest.join('\r\n\r\n') };
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    [web, open] = [await freePort(), await freePort()];
    const applied = await weftApply(cp, config(web, open), 'api.yaml');
    expect(applied.code, applied.stderr).toBe(0);
    expect((await weft(['consumer', 'create', 'acme', '--plan', 'gold', '--label', 'tier=paid'], { cp })).code).toBe(0);
    const issued = await weft(['key', 'issue', 'acme', '--expires', '1h'], { cp });
    expect(issued.code, issued.stderr).toBe(0);
    key = issued.stdout.trim();
    keyId = /^wk_([0-9a-f]+)_/.exec(key)![1]!;
    accessLog = join(tempDir('weft-log-'), 'access.log');
    [orders, gw] = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-1', { appEnv: { ECHO_RAW: '1' } }),
      startGateway(cp.xdsPort, 'default/edge', { extraArgs: ['--access-log', accessLog] }),
    ]);
    // Serving once a keyed call reaches the app through both proxies.
    await eventually(async () => (await curl(web, '/ready', '-H', `x-api-key: ${key}`).catch(() => undefined))?.status === 200, 30_000, 200);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), orders?.kill(), cp?.kill()]);
  });

  it('curl with the key reaches the app as the consumer; the app sees x-weft-consumer, never the key', async () => {
    const r = await curl(web, '/orders/1', '-H', `x-api-key: ${key}`, '-H', 'x-weft-consumer: mallory');
    expect(r.status).toBe(200);
    const seen = rawHeaders(r.body);
    expect(seen['x-weft-consumer']).toBe('acme');
    expect(seen['x-api-key']).toBeUndefined();
    expect(r.body).not.toContain(key);
  });

  it('curl without a key gets 401 API_KEY_MISSING from the gateway with a challenge; a wrong key 401 API_KEY_INVALID', async () => {
    const none = await curl(web, '/orders/1');
    expect([none.status, none.headers['x-weft-error'], none.headers['www-authenticate']]).toEqual([401, 'API_KEY_MISSING', 'ApiKey realm="weft", header="x-api-key", query="api_key"']);
    const wrong = await curl(web, '/orders/1', '-H', `x-api-key: ${key}x`);
    expect([wrong.status, wrong.headers['x-weft-error']]).toEqual([401, 'API_KEY_INVALID']);
  });

  it('undici with the key in the header and in the query', async () => {
    const h = await request(`http://127.0.0.1:${web}/orders/2`, { headers: { 'x-api-key': key } });
    const body = await h.body.text();
    expect([h.statusCode, rawHeaders(body)['x-weft-consumer']]).toEqual([200, 'acme']);
    // The gateway reads the query; its policy keeps credentials, and the sidecar's reads only the header.
    const q = await request(`http://127.0.0.1:${web}/orders/3?api_key=${encodeURIComponent(key)}`);
    expect([q.statusCode, q.headers['x-weft-error']]).toEqual([401, 'API_KEY_MISSING']);
    await q.body.dump();
  });

  it('the sidecar enforces its Service\'s policy on its own (a gateway listener without a policy)', async () => {
    const none = await curl(open, '/orders/1');
    expect([none.status, none.headers['x-weft-error']]).toEqual([401, 'API_KEY_MISSING']);
    const ok = await curl(open, '/orders/1', '-H', `x-api-key: ${key}`);
    expect([ok.status, rawHeaders(ok.body)['x-weft-consumer'], rawHeaders(ok.body)['x-api-key']]).toEqual([200, 'acme', undefined]);
  });

  it('puts the consumer in the gateway\'s access log and on the sidecar\'s SERVER span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const r = await curl(web, '/traced', '-H', `x-api-key: ${key}`, '-H', `traceparent: 00-${traceId}-${randomBytes(8).toString('hex')}-01`);
    expect(r.status).toBe(200);
    const line = await eventually(() => existsSync(accessLog) && readFileSync(accessLog, 'utf8').split('\n').find((l) => l.includes('"/traced"')), 15_000, 100);
    expect(JSON.parse(line)).toMatchObject({ path: '/traced', status: 200, consumer: 'acme' });
    const spans = await eventually(async () => {
      const t = await weft(['trace', 'show', traceId, '-o', 'json'], { cp });
      if (t.code !== 0) return undefined;
      const s = (JSON.parse(t.stdout) as { spans: StoredSpan[] }).spans;
      return s.some((x) => x.kind === 'server') ? s : undefined;
    }, 20_000, 300);
    // Gateway listeners record no spans (yet); the orders sidecar's SERVER span carries the consumer.
    const server = spans.find((s) => s.kind === 'server')!;
    expect(server.attributes['weft.consumer']).toBe('acme');
  });

  it('after `weft key revoke` the next call gets 401 API_KEY_INVALID', async () => {
    const r = await weft(['key', 'revoke', 'acme', keyId], { cp });
    expect(r.code, r.stderr).toBe(0);
    const after = await eventually(async () => {
      const x = await curl(web, '/orders/1', '-H', `x-api-key: ${key}`);
      return x.status === 401 ? x : undefined;
    }, 20_000, 100);
    expect(after.headers['x-weft-error']).toBe('API_KEY_INVALID');
    const u = await request(`http://127.0.0.1:${web}/orders/1`, { headers: { 'x-api-key': key } });
    expect([u.statusCode, u.headers['x-weft-error']]).toEqual([401, 'API_KEY_INVALID']);
    await u.body.dump();
  });
});
