#!/usr/bin/env node
// `make demo`: a real mesh on loopback that ends by itself.
//
//   demo load ──> [sidecar loadgen] ──> [sidecar]─frontend ──> [sidecar]─orders-v1-a ──> [sidecar]─payments
//                                                          ├─> [sidecar]─orders-v1-b ─┘
//                                                          └─> [sidecar]─orders-v2  ─┘
//
// Every box is a separate process: `weft control-plane`, one `weft sidecar` per instance, and plain
// node:http apps (deploy/demo/app.mjs) that know other services only by name. Sidecars register
// their instance with the control plane and get listeners, routes, clusters and endpoints over xDS.
//
// Steps: apply services and a TrafficPolicy (subsets, retries, outlier detection); send traffic
// (round robin over the three orders instances); apply an 80/20 canary split to v2 live with
// `weft apply`; kill orders-v1-b (app and sidecar, SIGKILL) mid-run; delete the canary; print a
// summary table, `weft proxy-status`, `weft stat` and one trace. A `weft gateway` in front of frontend
// terminates HTTPS with a certificate stored by `weft create secret tls` and redirects plain HTTP.
// A TCP service (Redis behind a `--app-protocol tcp` sidecar) is reached through the load
// generator's sidecar on a local port its Service declares (`upstreams`), over mTLS.
// Every process is stopped at the end.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '../..');
const weftBin = join(root, 'bin/weft.js');
const appBin = join(root, 'deploy/demo/app.mjs');
const work = mkdtempSync(join(tmpdir(), 'weft-demo-'));
const procs = [];
const CONCURRENCY = 8;

function start(name, args, env = {}) {
  const p = spawn(process.execPath, args, { cwd: root, env: { ...process.env, WEFT_LOG_LEVEL: 'warn', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(p);
  const lines = createInterface({ input: p.stdout });
  const seen = [];
  const waiters = [];
  lines.on('line', (l) => {
    seen.push(l);
    for (const w of [...waiters]) if (w.re.test(l)) (waiters.splice(waiters.indexOf(w), 1), w.res(l));
  });
  p.stderr.on('data', (d) => process.env.DEMO_VERBOSE && process.stderr.write(`[${name}] ${d}`));
  return {
    p,
    wait: (re, ms = 20000) => {
      const hit = seen.find((l) => re.test(l));
      if (hit) return Promise.resolve(hit);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${name}: no ${re} within ${ms} ms`)), ms);
        waiters.push({ re, res: (l) => (clearTimeout(t), res(l)) });
        p.once('exit', () => rej(new Error(`${name} exited`)));
      });
    },
  };
}

function weft(args, stdin) {
  return new Promise((res) => {
    const p = spawn(process.execPath, [weftBin, ...args], { cwd: root, env: { ...process.env, WEFT_SERVER: admin, WEFT_DATA_DIR: join(work, 'data') }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.stdin.end(stdin ?? '');
    p.on('exit', (code) => res({ code, out, err }));
  });
}

async function weftShow(args) {
  const r = await weft(args);
  if (r.out.trim()) console.log(r.out.trimEnd().replace(/^/gm, '    '));
  if (r.code !== 0) throw new Error(`weft ${args.join(' ')} failed: ${r.err}`);
}

function stopAll() {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  setTimeout(() => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }, 3000).unref();
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
const step = (s) => console.log(`\n==> ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let admin = '';
let xds = '';
let zeroTrust = '';
let frontDoorSummary = '';
let tcpSummary = '';
const tokens = new Map();

/** An app process plus its sidecar; the app learns its sidecar's outbound port on stdin. */
async function startInstance(service, name, version, calls, appPort, extraArgs = []) {
  let app;
  if (appPort === undefined) {
    app = start(name, [appBin], { NAME: name, VERSION: version, CALLS: calls ?? '' });
    appPort = Number((await app.wait(/^listening \d+/)).split(' ')[1]);
  }
  // Each service's instances join with a join token (their first certificate); renewals use the certificate.
  if (!tokens.has(service)) {
    const t = await weft(['token', 'create', '--service', service, '--ttl', '1h']);
    if (t.code !== 0) throw new Error(`weft token create failed: ${t.err}`);
    tokens.set(service, t.out.trim());
  }
  const sc = start(`${name}/sidecar`, [
    weftBin, 'sidecar', '--service', service, '--app-port', String(appPort), '--control-plane', xds,
    '--outbound-port', '0', '--inbound-port', '0', '--inbound-address', '127.0.0.1', '--admin-port', '0',
    '--labels', `version=${version}`, '--id', name, '--drain-delay', '200ms', ...extraArgs,
  ], { WEFT_JOIN_TOKEN: tokens.get(service) });
  const ready = await sc.wait(/^ready id=/);
  const [, outbound, inbound, adm] = /outbound=\S+:(\d+) inbound=\S+:(\d+) admin=\S+:(\d+)/.exec(ready);
  app?.p.stdin.write(`outbound ${outbound}\n`);
  console.log(`    ${name.padEnd(12)} app :${appPort}  sidecar in :${inbound} out :${outbound} admin :${adm}`);
  return { name, version, app, sidecar: sc, outbound: Number(outbound), admin: Number(adm) };
}

/** GET / on `frontend` through the load generator's sidecar, `n` requests, CONCURRENCY at a time. */
async function load(port, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const latencies = [];
  const served = {};
  let ok = 0;
  const errors = {};
  let next = 0;
  const one = () =>
    new Promise((res) => {
      const t0 = process.hrtime.bigint();
      const req = http.request({ host: '127.0.0.1', port, path: `/order/${next}`, agent, headers: { host: 'frontend' }, timeout: 10_000 }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (d) => (body += d));
        r.on('end', () => {
          latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          if (r.statusCode === 200) {
            ok++;
            const orders = JSON.parse(body).downstream;
            served[orders.instance] = (served[orders.instance] ?? 0) + 1;
          } else {
            let inner;
            try {
              inner = JSON.parse(body).downstreamError;
            } catch {}
            const why = r.headers['x-weft-error'] ?? `HTTP ${r.statusCode}${inner ? ` (frontend -> orders: ${inner})` : ''}`;
            errors[why] = (errors[why] ?? 0) + 1;
          }
          res();
        });
      });
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (e) => {
        errors[e.message] = (errors[e.message] ?? 0) + 1;
        res();
      });
      req.end();
    });
  const worker = async () => {
    while (next < n) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
  return { total: n, ok, served, errors, p50: q(0.5), p99: q(0.99) };
}

/** Sends Redis commands on one new connection to 127.0.0.1:port; resolves with the replies' first lines. */
function redisCommands(port, commands) {
  return new Promise((res, rej) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => (s.destroy(), rej(new Error('redis: no answer in 5 s'))), 5000);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(commands.map((c) => `${c}\r\n`).join('')));
    s.on('data', (d) => {
      buf += d;
      const lines = buf.split('\r\n').filter(Boolean);
      if (lines.length >= commands.length) (clearTimeout(t), s.destroy(), res(lines.slice(0, commands.length)));
    });
    s.on('error', (e) => (clearTimeout(t), rej(e)));
  });
}

/**
 * A TCP service: redis-server (from `make deps`) behind a sidecar with `--app-protocol tcp`; the
 * load generator's Service declares it in `upstreams`, so loadgen's sidecar opens a local port
 * for it and carries each connection over mTLS to the Redis sidecar.
 */
async function tcpService(loadgen) {
  step('TCP: weft apply tcp.yaml (Service sessions, protocol tcp; loadgen upstreams -> local port); redis-server + sidecar --app-protocol tcp');
  const redisPort = await freePort();
  const localPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  redis.on('error', () => undefined);
  procs.push(redis);
  writeFileSync(join(work, 'tcp.yaml'), `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: sessions }
spec:
  ports: [{ name: redis, port: 6379, protocol: tcp }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: loadgen }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  upstreams: [{ service: sessions, localPort: ${localPort} }]
`);
  await weftShow(['apply', '-f', join(work, 'tcp.yaml')]);
  await startInstance('sessions', 'sessions', 'v1', undefined, redisPort, ['--app-protocol', 'tcp']);
  for (let i = 0; ; i++) {
    const r = await redisCommands(localPort, ['PING']).catch(() => []);
    if (r[0] === '+PONG') break;
    if (i > 100) throw new Error('redis did not answer through the mesh');
    await sleep(100);
  }
  let ok = 0;
  for (let i = 0; i < 20; i++) {
    const r = await redisCommands(localPort, ['INCR demo', 'INCR demo', 'INCR demo', 'INCR demo', 'INCR demo']).catch(() => []);
    ok += r.filter((x) => /^:\d+$/.test(x)).length;
  }
  const total = await redisCommands(localPort, ['INCRBY demo 0']).catch(() => []);
  console.log(`    loadgen -> 127.0.0.1:${localPort} (its sidecar) -> mTLS -> sessions' sidecar -> redis :${redisPort}: ${ok}/100 INCR ok over 20 connections; demo = ${total[0] ?? '?'}`);
  tcpSummary = `${ok}/100 Redis commands ok over 20 TCP connections through two sidecars (mTLS, STRICT)`;
  if (ok !== 100) throw new Error(`TCP service: only ${ok}/100 commands ok`);
}

/**
 * The front door: a certificate made with openssl and stored with `weft create secret tls`, a
 * Gateway with an HTTP listener (redirecting to HTTPS) and an HTTPS one, an HTTPRoute to
 * frontend, and a `weft gateway` process serving them; HTTPS requests through it.
 */
async function frontDoor() {
  step('front door: openssl certificate -> weft create secret tls; Gateway (HTTP redirect + HTTPS) -> frontend; weft gateway');
  const crt = join(work, 'shop.crt');
  const key = join(work, 'shop.key');
  const ossl = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '90', '-subj', '/CN=shop.example.com', '-addext', 'subjectAltName=DNS:shop.example.com', '-keyout', key, '-out', crt], { stdio: 'pipe' });
  if (ossl.status !== 0) throw new Error(`openssl failed: ${ossl.stderr}`);
  await weftShow(['create', 'secret', 'tls', 'shop-cert', '--cert', crt, '--key', key]);
  const [httpPort, httpsPort] = [await freePort(), await freePort()];
  writeFileSync(join(work, 'front-door.yaml'), `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: front }
spec:
  gatewayClassName: weft
  listeners:
    - { name: http, port: ${httpPort}, protocol: HTTP }
    - { name: https, port: ${httpsPort}, protocol: HTTPS, hostname: shop.example.com, tls: { certificateRefs: [{ name: shop-cert }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: front, sectionName: https }]
  rules: [{ backendRefs: [{ name: frontend, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-https }
spec:
  parentRefs: [{ kind: Gateway, name: front, sectionName: http }]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, port: ${httpsPort}, statusCode: 301 } }]
`);
  await weftShow(['apply', '-f', join(work, 'front-door.yaml')]);
  const t = await weft(['token', 'create', '--service', 'front', '--ttl', '1h']);
  if (t.code !== 0) throw new Error(`weft token create failed: ${t.err}`);
  const gw = start('gateway', [weftBin, 'gateway', '--gateway', 'default/front', '--control-plane', xds, '--listen-address', '127.0.0.1', '--admin-port', '0', '--drain-delay', '200ms'], { WEFT_JOIN_TOKEN: t.out.trim() });
  console.log(`    ${await gw.wait(/^ready id=/)}`);
  const ca = readFileSync(crt, 'utf8');
  const get = (path) =>
    new Promise((res) => {
      https.get({ host: '127.0.0.1', port: httpsPort, path, servername: 'shop.example.com', ca, headers: { host: 'shop.example.com' }, agent: httpsAgent }, (r) => {
        let body = '';
        const tls = r.socket.getProtocol();
        r.on('data', (c) => (body += c));
        r.on('end', () => res({ status: r.statusCode, body, tls }));
      }).on('error', (e) => res({ status: 0, body: e.message }));
    });
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 4 });
  let first;
  for (let i = 0; i < 100 && !(first = await get('/'))?.status; i++) await sleep(100);
  for (let i = 0; i < 50 && first.status !== 200; i++) (await sleep(100), (first = await get('/')));
  const results = await Promise.all(Array.from({ length: 200 }, () => get('/')));
  httpsAgent.destroy();
  const ok = results.filter((r) => r.status === 200).length;
  const redirect = await new Promise((res) => http.get({ host: '127.0.0.1', port: httpPort, path: '/cart', headers: { host: 'shop.example.com' } }, (r) => (r.resume(), res(`${r.statusCode} -> ${r.headers.location}`))).on('error', (e) => res(e.message)));
  console.log(`    https://shop.example.com:${httpsPort}/ (${first.tls}): ${ok}/200 ok through the gateway -> frontend -> orders -> payments`);
  console.log(`    http://shop.example.com:${httpPort}/cart: ${redirect}`);
  frontDoorSummary = `${ok}/200 HTTPS requests ok through weft gateway (${first.tls}); plain HTTP redirected ${redirect.split(' ')[0]}`;
  await weftShow(['get', 'gateway', 'front']);
}

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise((r) => s.close(r));
  return port;
}

try {
  step('starting the control plane');
  const cp = start('control-plane', [weftBin, 'control-plane', '--data-dir', join(work, 'data'), '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0', '--otlp-address', '127.0.0.1:0', '--load-report-interval', '1s']);
  const ready = await cp.wait(/ready xds=/);
  [, xds, admin] = /xds=(\S+) admin=(\S+)/.exec(ready);
  admin = `http://${admin}`;
  console.log(`    ${ready}`);

  const mesh = `${['frontend', 'orders', 'payments'].map((s) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${s} }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
`).join('')}apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  loadBalancer: { type: RoundRobin }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
  retry: { attempts: 3, retryOn: [5xx, reset, connect-failure], backoff: { baseInterval: 10ms } }
  # Up to 16 concurrent retries (default 3): when an instance dies, every request in flight to it
  # is retried at once; with 8 concurrent callers more than 3 can be.
  connectionPool: { maxRetries: 16 }
  outlierDetection: { consecutiveGatewayErrors: 2, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
`;
  const canary = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-canary }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - backendRefs:
        - { name: orders, subset: v1, weight: 80 }
        - { name: orders, subset: v2, weight: 20 }
`;
  writeFileSync(join(work, 'mesh.yaml'), mesh);
  writeFileSync(join(work, 'canary.yaml'), canary);
  // Zero trust: mTLS only between sidecars, and only orders may call payments.
  writeFileSync(join(work, 'zero-trust.yaml'), `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: STRICT }
  tracing: { samplingPercent: 5 }
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: payments-from-orders }
spec:
  service: payments
  action: ALLOW
  rules:
    - from: [{ principals: ["spiffe://cluster.local/ns/default/sa/orders"] }]
`);
  step('weft apply -f mesh.yaml   (services frontend, orders, payments; TrafficPolicy for orders)');
  await weftShow(['apply', '-f', join(work, 'mesh.yaml')]);

  step('starting instances: each is an app plus a weft sidecar that registers it');
  await startInstance('payments', 'payments', 'v1');
  const orders = [];
  for (const [name, version] of [['orders-v1-a', 'v1'], ['orders-v1-b', 'v1'], ['orders-v2', 'v2']]) {
    orders.push(await startInstance('orders', name, version, 'payments'));
  }
  const frontend = await startInstance('frontend', 'frontend', 'v1', 'orders');
  // The load generator is this script; its sidecar's inbound side points at a port nobody calls.
  const idle = http.createServer((_q, r) => r.end()).listen(0, '127.0.0.1');
  await new Promise((r) => idle.once('listening', r));
  const loadgen = await startInstance('loadgen', 'loadgen', 'v1', undefined, idle.address().port);
  idle.unref();

  // Wait until requests flow end to end and frontend's sidecar knows all three orders instances.
  for (let i = 0; ; i++) {
    const r = await load(loadgen.outbound, 6);
    if (r.ok === 6 && Object.keys(r.served).length === orders.length) break;
    if (i > 100) throw new Error(`mesh did not become ready: ${JSON.stringify(r.errors)}`);
    await sleep(100);
  }

  const results = [];
  const run = async (phase, n, during) => {
    const pending = load(loadgen.outbound, n);
    if (during) await during();
    const r = await pending;
    results.push({ phase, ...r });
    console.log(`    ${phase}: ${r.ok}/${r.total} ok${Object.keys(r.errors).length ? `, errors ${JSON.stringify(r.errors)}` : ''}`);
  };

  step('traffic: loadgen -> frontend -> orders (round robin over 3 instances) -> payments');
  await run('round robin', 600);

  step('weft apply -f canary.yaml   (80% v1 / 20% v2, live)');
  await weftShow(['apply', '-f', join(work, 'canary.yaml')]);
  await sleep(300);
  await run('canary 80/20', 1000);

  step('killing orders-v1-b (app and sidecar, SIGKILL) mid-run');
  await run('v1-b killed', 1000, async () => {
    await sleep(300);
    const b = orders[1];
    b.sidecar.p.kill('SIGKILL');
    b.app.p.kill('SIGKILL');
  });

  step('weft delete httproute orders-canary');
  await weftShow(['delete', 'httproute', 'orders-canary']);
  await sleep(300);
  await run('canary removed', 600);

  step('weft apply -f zero-trust.yaml   (STRICT mTLS everywhere; only orders may call payments)');
  await weftShow(['apply', '-f', join(work, 'zero-trust.yaml')]);
  await sleep(500);
  await run('STRICT + authz', 600);
  // The load generator is not orders: its call to payments is refused by payments' sidecar.
  const denied = await new Promise((res) =>
    http.get({ host: '127.0.0.1', port: loadgen.outbound, path: '/charge', headers: { host: 'payments' } }, (r) => {
      r.resume();
      r.on('end', () => res(`${r.statusCode} x-weft-error: ${r.headers['x-weft-error'] ?? '-'}`));
    }).on('error', (e) => res(e.message)),
  );
  console.log(`    loadgen -> payments directly: ${denied}   (payments' sidecar logs the rule)`);
  zeroTrust = denied;

  await frontDoor();
  await tcpService(loadgen);

  step('weft ca show   (the mesh CA; every sidecar holds a short-lived SPIFFE certificate from it)');
  await weftShow(['ca', 'show']);
  step('weft proxy-config frontend --type secret');
  await weftShow(['proxy-config', 'frontend', '--type', 'secret']);

  step('weft proxy-status');
  await weftShow(['proxy-status']);

  step('weft stat --window 30s   (golden metrics per service, from the sidecars\' load reports)');
  await sleep(1500);
  await weftShow(['stat', '--window', '30s']);
  step('weft trace list --service payments --limit 3   (5% of requests traced in the last phase)');
  await weftShow(['trace', 'list', '--service', 'payments', '--limit', '3']);
  const traces = JSON.parse((await weft(['trace', 'list', '--service', 'payments', '--limit', '1', '-o', 'json'])).out || '[]');
  if (traces[0]) {
    step(`weft trace show ${traces[0].traceId}`);
    await weftShow(['trace', 'show', traces[0].traceId]);
  }

  step('summary (share of successful requests served by each orders instance)');
  const names = orders.map((i) => i.name);
  const head = ['phase', 'requests', 'success %', 'p50 ms', 'p99 ms', ...names];
  const rows = results.map((r) => [
    r.phase, String(r.total), ((100 * r.ok) / r.total).toFixed(1), r.p50.toFixed(1), r.p99.toFixed(1),
    ...names.map((n) => `${(((r.served[n] ?? 0) * 100) / Math.max(r.ok, 1)).toFixed(1)}%`),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
  console.log(`every hop between sidecars is mTLS (TLS 1.3, SPIFFE identities); a caller the AuthorizationPolicy does not allow gets: ${zeroTrust}`);
  console.log(`front door: ${frontDoorSummary}`);
  console.log(`tcp service: ${tcpSummary}`);

  step(`frontend sidecar metrics for orders (curl http://127.0.0.1:${frontend.admin}/stats/prometheus)`);
  const prom = await new Promise((res, rej) =>
    http.get({ host: '127.0.0.1', port: frontend.admin, path: '/stats/prometheus' }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (d) => (b += d));
      r.on('end', () => res(b));
    }).on('error', rej),
  );
  for (const l of prom.split('\n')) if (/^weft_upstream_(requests_total|responses_total|retries_total|retry_overflow_total|connect_failures_total|ejections_total|hosts)\{cluster="[^"]*orders/.test(l)) console.log(`    ${l}`);
  console.log('\ndemo finished; stopping everything.');
} catch (e) {
  console.error(`demo failed: ${e.message}`);
  process.exitCode = 1;
} finally {
  stopAll();
}
