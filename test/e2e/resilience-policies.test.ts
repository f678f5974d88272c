// Resilience policies a user sets in config, observed through a real sidecar process: active
// health checks taking an instance out and back, retries (exactly `attempts` tries, the retry
// budget, the per-try timeout), a body too large to replay, the translated-body cap of JSON -> gRPC
// transcoding, and outlier detection (un-ejection after baseEjectionTime, maxEjectionPercent).
// The upstream apps run in this process on loopback port 0, reached as a Service's static
// endpoints, so every test counts exactly what each app received.
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDescriptorSet } from '../harness/descriptors.js';
import { eventually, ROOT, startControlPlane, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type SidecarProc } from '../harness/processes.js';

/** One request as an app saw it. `closed`: the connection went away before the app answered. */
interface Seen {
  method: string;
  path: string;
  key: string;
  /** Which try of this key it was, counted by the app (1 = the first). */
  attempt: number;
  bytes: number;
  at: number;
  closed: boolean;
}

type Handler = (s: Seen, req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A real HTTP/1.1 app on 127.0.0.1:0 that records every request and answers through `handler`. */
class App {
  readonly seen: Seen[] = [];
  /** GET /healthz answers 200 while true, 503 while false; probes are counted apart. */
  healthy = true;
  probes: Array<{ at: number; ok: boolean }> = [];
  handler: Handler = (s, _req, res) => reply(res, 200, { name: this.name, attempt: s.attempt });
  readonly #tries = new Map<string, number>();
  readonly #server: http.Server;
  port = 0;

  constructor(readonly name: string) {
    this.#server = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/healthz') {
        this.probes.push({ at: Date.now(), ok: this.healthy });
        res.writeHead(this.healthy ? 200 : 503).end();
        return;
      }
      const key = u.searchParams.get('key') ?? '';
      const attempt = (this.#tries.get(key) ?? 0) + 1;
      this.#tries.set(key, attempt);
      const s: Seen = { method: req.method ?? '', path: u.pathname, key, attempt, bytes: 0, at: Date.now(), closed: false };
      this.seen.push(s);
      res.on('close', () => (s.closed = !res.writableFinished));
      req.on('data', (c: Buffer) => (s.bytes += c.length));
      req.on('end', () => this.handler(s, req, res));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  /** Requests (not health probes) received so far, optionally only those for `key`. */
  count(key?: string): number {
    return key === undefined ? this.seen.length : this.seen.filter((s) => s.key === key).length;
  }

  stop(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

function reply(res: http.ServerResponse, status: number, o: object): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(o));
}

interface Answer {
  status: number;
  error: string | undefined;
  body: string;
  ms: number;
}

/** One request through the sidecar's outbound listener (its own connection). */
function send(port: number, host: string, path: string, o: { method?: string; body?: string | Buffer; contentType?: string } = {}): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { host };
    if (o.body !== undefined) headers['content-type'] = o.contentType ?? 'text/plain';
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, error: res.headers['x-weft-error'] as string | undefined, body: b, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`timeout: ${path}`)));
    req.end(o.body);
  });
}

async function metric(admin: string, name: string, cluster: string): Promise<number> {
  const text = await (await fetch(`${admin}/stats/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{cluster="${cluster}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

interface AdminHost {
  address: string;
  healthy: boolean;
  health: string[];
}

async function hostsOf(admin: string, cluster: string): Promise<AdminHost[]> {
  const list = (await (await fetch(`${admin}/clusters`)).json()) as Array<{ name: string; hosts: AdminHost[] }>;
  return list.find((c) => c.name === cluster)?.hosts ?? [];
}

async function hostOf(admin: string, cluster: string, app: App): Promise<AdminHost | undefined> {
  return (await hostsOf(admin, cluster)).find((h) => h.address === `127.0.0.1:${app.port}`);
}

/** Listeners and routes arrived (endpoints may come first). */
const ready = (s: SidecarProc) => eventually(async () => (await fetch(`${s.admin}/ready`)).ok, 15_000, 100);

const cluster = (svc: string) => `outbound|8080||${svc}.default`;

/** A Service whose instances are the given apps (static endpoints). */
function service(name: string, apps: App[]): string {
  return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  endpoints: [${apps.map((a) => `{ address: 127.0.0.1, port: ${a.port} }`).join(', ')}]
`;
}

describe('resilience policies through a real sidecar', () => {
  let cp: ControlPlaneProc;
  let web: SidecarProc;
  const hc = [new App('hc-1'), new App('hc-2')];
  const od = [new App('od-1'), new App('od-2')];
  const cap = [new App('cap-1'), new App('cap-2'), new App('cap-3'), new App('cap-4')];
  const rt = new App('rt-1');
  const budget = new App('budget-1');
  const apps = [...hc, ...od, ...cap, rt, budget];

  beforeAll(async () => {
    [cp] = await Promise.all([startControlPlane(), ...apps.map((a) => a.start())]);
    const yaml = [
      service('web', []),
      service('hc', hc),
      `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: hc }
spec:
  targetRef: { kind: Service, name: hc }
  healthCheck: { path: /healthz, interval: 100ms, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 2 }
`,
      service('od', od),
      `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: od }
spec:
  targetRef: { kind: Service, name: od }
  outlierDetection: { consecutive5xx: 3, consecutiveGatewayErrors: 3, interval: 100ms, baseEjectionTime: 2s, maxEjectionPercent: 50 }
`,
      service('cap', cap),
      `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: cap }
spec:
  targetRef: { kind: Service, name: cap }
  outlierDetection: { consecutive5xx: 2, consecutiveGatewayErrors: 2, interval: 10s, baseEjectionTime: 60s, maxEjectionPercent: 50 }
`,
      service('rt', [rt]),
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: rt }
spec:
  parentRefs: [{ kind: Service, name: rt }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /max } }]
      retry: { attempts: 3, retryOn: [5xx], backoff: { baseInterval: 1ms } }
      backendRefs: [{ name: rt }]
    - matches: [{ path: { type: PathPrefix, value: /pertry } }]
      retry: { attempts: 2, retryOn: [5xx, reset], perTryTimeout: 300ms, backoff: { baseInterval: 1ms } }
      backendRefs: [{ name: rt }]
    - matches: [{ path: { type: PathPrefix, value: /big } }]
      retry: { attempts: 3, retryOn: [5xx, reset], backoff: { baseInterval: 1ms } }
      backendRefs: [{ name: rt }]
`,
      service('budget', [budget]),
      `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: budget }
spec:
  targetRef: { kind: Service, name: budget }
  retry: { attempts: 2, retryOn: [5xx], backoff: { baseInterval: 1ms }, budget: { percent: 10, minRetryConcurrency: 1 } }
`,
    ].join('---\n');
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, yaml);
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 0 });
    await Promise.all([
      waitForHosts(web, cluster('hc'), 2),
      waitForHosts(web, cluster('od'), 2),
      waitForHosts(web, cluster('cap'), 4),
      waitForHosts(web, cluster('rt'), 1),
      waitForHosts(web, cluster('budget'), 1),
      ready(web),
    ]);
  });
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), cp?.kill(), ...apps.map((a) => a.stop())]);
  });

  it('active health check: a failing instance stops getting traffic and gets it again once it passes', async () => {
    const CL = cluster('hc');
    const [a, b] = hc as [App, App];
    // Both pass: round robin alternates.
    for (let i = 0; i < 10; i++) expect((await send(web.outboundPort, 'hc', '/')).status).toBe(200);
    expect([a.count(), b.count()]).toEqual([5, 5]);

    b.healthy = false;
    const failedFrom = b.probes.length;
    await eventually(async () => (await hostOf(web.admin, CL, b))?.health.includes('failed_active_hc'), 5000);
    // Two failed probes in a row (unhealthyThreshold) came before it.
    expect(b.probes.slice(failedFrom).filter((p) => !p.ok).length).toBeGreaterThanOrEqual(2);
    const before = [a.count(), b.count()];
    for (let i = 0; i < 10; i++) expect((await send(web.outboundPort, 'hc', '/')).status).toBe(200);
    expect([a.count() - before[0]!, b.count() - before[1]!]).toEqual([10, 0]);

    b.healthy = true;
    await eventually(async () => (await hostOf(web.admin, CL, b))?.healthy, 5000);
    const back = [a.count(), b.count()];
    for (let i = 0; i < 10; i++) expect((await send(web.outboundPort, 'hc', '/')).status).toBe(200);
    expect([a.count() - back[0]!, b.count() - back[1]!]).toEqual([5, 5]);
  });

  it('retry attempts: an upstream that always answers 503 is tried exactly 3 times (attempts: 3)', async () => {
    // Keys "always-*" always fail; others fail once.
    rt.handler = (s, _req, res) => reply(res, s.key.startsWith('always') || s.attempt === 1 ? 503 : 200, { name: rt.name, attempt: s.attempt });
    const r = await send(web.outboundPort, 'rt', '/max?key=always-1');
    expect(r.status).toBe(503);
    expect(r.error).toBeUndefined(); // the upstream's own 503, passed on
    expect(JSON.parse(r.body)).toEqual({ name: 'rt-1', attempt: 3 });
    expect(rt.count('always-1')).toBe(3);
    // A try that succeeds stops the retries: 2 tries, 200.
    const ok = await send(web.outboundPort, 'rt', '/max?key=once-1');
    expect([ok.status, JSON.parse(ok.body).attempt, rt.count('once-1')]).toEqual([200, 2, 2]);
  });

  it('retry budget: with room for one retry, five requests failing at once get exactly one retry', async () => {
    const CL = cluster('budget');
    const N = 5;
    let answered503 = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // First tries fail at once; the one retry the budget allows is held open until the client has
    // the other four 503s (or 5 s pass, when more retries than allowed were made).
    budget.handler = (s, _req, res) => {
      if (s.attempt === 1) return reply(res, 503, { name: budget.name, attempt: 1 });
      const t = setTimeout(release, 5000);
      void released.then(() => {
        clearTimeout(t);
        reply(res, 200, { name: budget.name, attempt: s.attempt });
      });
    };
    const overflowBefore = await metric(web.admin, 'weft_upstream_retry_overflow_total', CL);
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        send(web.outboundPort, 'budget', `/?key=b${i}`).then((r) => {
          if (r.status === 503 && ++answered503 === N - 1) release();
          return r;
        }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 503, 503, 503, 503]);
    expect(budget.count()).toBe(N + 1);
    expect(await metric(web.admin, 'weft_upstream_retry_overflow_total', CL)).toBe(overflowBefore + N - 1);
    // The budget is free again once the retry ended: a lone failing request is retried.
    const again = await send(web.outboundPort, 'budget', '/?key=lone');
    expect([again.status, budget.count('lone')]).toEqual([200, 2]);
  });

  it('per-try timeout: a slow first try is cut at 300 ms and the second try answers', async () => {
    rt.handler = (s, _req, res) => {
      if (s.attempt === 1) setTimeout(() => reply(res, 200, { name: rt.name, attempt: 1 }), 3000).unref();
      else reply(res, 200, { name: rt.name, attempt: s.attempt });
    };
    const r = await send(web.outboundPort, 'rt', '/pertry?key=slow-1');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ name: 'rt-1', attempt: 2 });
    expect(r.ms).toBeGreaterThanOrEqual(300);
    expect(r.ms).toBeLessThan(1500);
    expect(rt.count('slow-1')).toBe(2);
    // The sidecar gave up the first try: its connection closed before the app answered.
    await eventually(() => rt.seen.find((s) => s.key === 'slow-1' && s.attempt === 1)?.closed, 2000);
  });

  it('a body too large to replay (> 64 KiB) is sent once: no retry, the upstream status reaches the client', async () => {
    rt.handler = (s, _req, res) => reply(res, s.attempt === 1 ? 503 : 200, { name: rt.name, attempt: s.attempt, bytes: s.bytes });
    // Control: a small body is replayed whole on the retry.
    const small = await send(web.outboundPort, 'rt', '/big?key=small', { method: 'POST', body: Buffer.alloc(1024, 'a') });
    expect([small.status, JSON.parse(small.body)]).toEqual([200, { name: 'rt-1', attempt: 2, bytes: 1024 }]);
    expect(rt.count('small')).toBe(2);

    const big = await send(web.outboundPort, 'rt', '/big?key=large', { method: 'POST', body: Buffer.alloc(100 * 1024, 'b') });
    expect(big.status).toBe(503);
    expect(big.error).toBeUndefined();
    expect(JSON.parse(big.body)).toEqual({ name: 'rt-1', attempt: 1, bytes: 100 * 1024 });
    expect(rt.count('large')).toBe(1);

    // A reset after a large idempotent PUT: not replayable either, so the documented 503 UPSTREAM_RESET.
    rt.handler = (s, req, res) => (s.attempt === 1 ? req.socket.destroy() : reply(res, 200, { name: rt.name, attempt: s.attempt, bytes: s.bytes }));
    const reset = await send(web.outboundPort, 'rt', '/big?key=reset', { method: 'PUT', body: Buffer.alloc(100 * 1024, 'c') });
    expect([reset.status, reset.error]).toEqual([503, 'UPSTREAM_RESET']);
    expect(rt.count('reset')).toBe(1);
    // The same with a small body is retried.
    const resetSmall = await send(web.outboundPort, 'rt', '/big?key=reset-small', { method: 'PUT', body: Buffer.alloc(512, 'c') });
    expect([resetSmall.status, JSON.parse(resetSmall.body).bytes, rt.count('reset-small')]).toEqual([200, 512, 2]);
  });

  it('outlier detection: an ejected instance gets traffic again after baseEjectionTime (2 s)', async () => {
    const CL = cluster('od');
    const bad = od[1]!;
    let thirdFailureAt = 0;
    bad.handler = (s, _req, res) => {
      const failing = bad.count() <= 3;
      if (bad.count() === 3) thirdFailureAt = Date.now();
      reply(res, failing ? 503 : 200, { name: bad.name, attempt: s.attempt });
    };
    // Round robin: within 6 requests the bad one answers 503 three times in a row, and is ejected.
    for (let i = 0; i < 6; i++) await send(web.outboundPort, 'od', '/');
    expect(bad.count()).toBe(3);
    expect((await hostOf(web.admin, CL, bad))?.health).toContain('outlier_ejected');
    const ejectedSeen = bad.count();
    // While ejected (the bad app would now answer 200), everything goes to the good one.
    for (let i = 0; i < 5; i++) expect((await send(web.outboundPort, 'od', '/')).status).toBe(200);
    expect(bad.count()).toBe(ejectedSeen);
    // Back after baseEjectionTime (plus at most one 100 ms sweep interval).
    await eventually(async () => (await send(web.outboundPort, 'od', '/')).status === 200 && bad.count() > ejectedSeen, 8000, 50);
    const back = bad.seen[ejectedSeen]!.at - thirdFailureAt;
    expect(back).toBeGreaterThanOrEqual(2000);
    expect(back).toBeLessThan(4000);
    expect((await hostOf(web.admin, CL, bad))?.healthy).toBe(true);
    expect(await metric(web.admin, 'weft_upstream_ejections_total', CL)).toBe(1);
  });

  it('outlier detection: with every instance failing, at most maxEjectionPercent (50 %) are ejected', async () => {
    const CL = cluster('cap');
    for (const a of cap) a.handler = (s, _req, res) => reply(res, 503, { name: a.name, attempt: s.attempt });
    const ejected = async () => (await hostsOf(web.admin, CL)).filter((h) => h.health.includes('outlier_ejected'));
    // Fail until two of the four are ejected.
    await eventually(async () => {
      await send(web.outboundPort, 'cap', '/');
      return (await ejected()).length >= 2;
    }, 10_000, 0);
    const out = new Set((await ejected()).map((h) => h.address));
    expect(out.size).toBe(2);
    const inApps = cap.filter((a) => !out.has(`127.0.0.1:${a.port}`));
    // The other two keep failing: each gets far more than consecutive5xx (2) failures in a row...
    const base = inApps.map((a) => a.count());
    await eventually(async () => {
      expect((await send(web.outboundPort, 'cap', '/')).status).toBe(503);
      return inApps.every((a, i) => a.count() - base[i]! >= 6);
    }, 10_000, 0);
    // ...and is still not ejected.
    expect((await ejected()).map((h) => h.address).sort()).toEqual([...out].sort());
    expect(await metric(web.admin, 'weft_upstream_ejections_total', CL)).toBe(2);
  });
});

describe('JSON -> gRPC transcoding: the translated-body cap', () => {
  let cp: ControlPlaneProc;
  let web: SidecarProc;
  let bookstore: SidecarProc;
  let app: http2.Http2Server;
  /** gRPC calls the app received: path and request bytes. */
  const calls: Array<{ path: string; bytes: number }> = [];

  beforeAll(async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bookstore.binpb'), buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore')));
    // A raw h2 gRPC app: counts every stream, whatever its size, and answers an empty message.
    app = http2.createServer();
    app.on('stream', (stream, headers) => {
      const call = { path: String(headers[':path']), bytes: 0 };
      calls.push(call);
      stream.on('data', (c: Buffer) => (call.bytes += c.length));
      stream.on('error', () => undefined);
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.write(Buffer.alloc(5));
        stream.end();
      });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    });
    [cp] = await Promise.all([startControlPlane(), new Promise<void>((r) => app.listen(0, '127.0.0.1', r))]);
    const f = join(dir, 'mesh.yaml');
    writeFileSync(f, [
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bookstore }\nspec:\n  ports: [{ name: grpc, port: 9090, protocol: grpc }]\n',
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n',
      'apiVersion: weft.dev/v1alpha1\nkind: GRPCTranslation\nmetadata: { name: bookstore-json }\nspec:\n  service: bookstore\n  protoServices: [bookstore.Bookstore]\n  descriptorSetFile: bookstore.binpb\n',
    ].join('---\n'));
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    const port = (app.address() as AddressInfo).port;
    [bookstore, web] = await Promise.all([
      startSidecar(cp.xdsPort, { service: 'bookstore', appPort: port, appProtocol: 'grpc' }),
      startSidecar(cp.xdsPort, { service: 'web', appPort: 0 }),
    ]);
    await waitForHosts(web, 'outbound|9090||bookstore.default', 1);
    // Registered is not ready: the transcoder lives on bookstore's inbound routes.
    await ready(bookstore);
  });
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), bookstore?.kill('SIGKILL'), cp?.kill()]);
    await new Promise((r) => app?.close(r));
  });

  const book = (titleBytes: number) => JSON.stringify({ title: 'x'.repeat(titleBytes), isbn: '1' });

  it('a JSON body over 4 MiB gets 413 (gRPC code 8) and never reaches the app; 1 MiB goes through', async () => {
    // Control: 1 MiB is transcoded and delivered.
    const ok = await send(web.outboundPort, 'bookstore', '/v1/shelves/7/books', { method: 'POST', body: book(1024 * 1024), contentType: 'application/json' });
    expect(ok.status, ok.body).toBe(200);
    expect(calls.map((c) => c.path)).toEqual(['/bookstore.Bookstore/CreateBook']);
    expect(calls[0]!.bytes).toBeGreaterThan(1024 * 1024);

    const body = book(4 * 1024 * 1024);
    expect(Buffer.byteLength(body)).toBeGreaterThan(4 * 1024 * 1024);
    const big = await send(web.outboundPort, 'bookstore', '/v1/shelves/7/books', { method: 'POST', body, contentType: 'application/json' });
    expect(big.status, `${big.error} ${big.body}`).toBe(413);
    expect(JSON.parse(big.body)).toEqual({ code: 8, message: 'the request body is larger than 4194304 bytes', details: [] });
    expect(calls).toHaveLength(1);
    // The sidecar still serves the next call (the cut request left nothing behind).
    const after = await send(web.outboundPort, 'bookstore', '/v1/shelves/7/books', { method: 'POST', body: book(10), contentType: 'application/json' });
    expect(after.status).toBe(200);
    expect(calls).toHaveLength(2);
  });
});
