#!/usr/bin/env node
// `make demo`: a real mesh on loopback that ends by itself.
//
//   control plane  <-xDS-  proxyless gRPC clients (frontend load, @grpc/grpc-js-xds)
//                           -> orders (3 instances: v1, v1, v2)
//
// Steps: start the control plane, three `orders` instances and a load generator; apply the
// service; send traffic; apply a 80/20 canary split to v2 live with `weft apply`; kill one v1
// instance mid-run; delete the canary; print a summary table. Every process is stopped at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '../..');
const weftBin = join(root, 'bin/weft.js');
const work = mkdtempSync(join(tmpdir(), 'weft-demo-'));
const procs = [];

function start(name, args, env = {}) {
  const p = spawn(process.execPath, args, { cwd: root, env: { ...process.env, WEFT_LOG_LEVEL: 'warn', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  procs.push(p);
  const lines = createInterface({ input: p.stdout });
  const waiters = [];
  lines.on('line', (l) => {
    for (const w of [...waiters]) if (w.re.test(l)) (waiters.splice(waiters.indexOf(w), 1), w.res(l));
  });
  p.stderr.on('data', (d) => process.env.DEMO_VERBOSE && process.stderr.write(`[${name}] ${d}`));
  return {
    p,
    lines,
    wait: (re, ms = 20000) =>
      new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${name}: no ${re} within ${ms} ms`)), ms);
        waiters.push({ re, res: (l) => (clearTimeout(t), res(l)) });
      }),
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

function stopAll() {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGTERM');
  setTimeout(() => {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  }, 2000).unref();
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
const step = (s) => console.log(`\n==> ${s}`);
let admin = '';

try {
  step('starting the control plane');
  const cp = start('control-plane', [weftBin, 'control-plane', '--data-dir', join(work, 'data'), '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0']);
  const ready = await cp.wait(/ready xds=/);
  const [, xds, adm] = /xds=(\S+) admin=(\S+)/.exec(ready);
  admin = `http://${adm}`;
  console.log(`    ${ready}`);

  step('starting orders: three instances (v1, v1, v2)');
  const instances = [];
  for (const [name, version] of [['orders-v1-a', 'v1'], ['orders-v1-b', 'v1'], ['orders-v2', 'v2']]) {
    const b = start(name, [join(root, 'test/harness/grpc-backend.mjs'), name]);
    const port = Number((await b.wait(/listening/)).split(' ')[1]);
    instances.push({ name, version, port, proc: b.p });
    console.log(`    ${name} (${version}) on 127.0.0.1:${port}`);
  }

  const svc = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
  endpoints:
${instances.map((i) => `    - { address: 127.0.0.1, port: ${i.port}, labels: { version: ${i.version}, instance: ${i.name} } }`).join('\n')}
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  loadBalancer: { type: RoundRobin }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;
  const canary = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: orders-canary }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - backendRefs:
        - { name: orders, subset: v1, weight: 80 }
        - { name: orders, subset: v2, weight: 20 }
`;
  writeFileSync(join(work, 'orders.yaml'), svc);
  writeFileSync(join(work, 'canary.yaml'), canary);
  step('weft apply -f orders.yaml');
  const a = await weft(['apply', '-f', join(work, 'orders.yaml')]);
  process.stdout.write(a.out.replace(/^/gm, '    '));
  if (a.code !== 0) throw new Error(a.err);

  step('frontend: a proxyless gRPC client (@grpc/grpc-js-xds) calling xds:///orders');
  const client = start('frontend', [join(root, 'test/harness/xds-client.mjs')], { XDS_SERVER: xds, TARGET: 'orders', NODE_ID: 'frontend-1' });
  await client.wait(/^ready$/);
  const results = [];
  const run = async (phase, n) => {
    client.p.stdin.write(`run ${n}\n`);
    const line = await client.wait(/^\{/, 60000);
    const r = JSON.parse(line);
    results.push({ phase, ...r });
    return r;
  };

  await run('round robin', 600);
  step('weft apply -f canary.yaml   (80% v1 / 20% v2, live)');
  process.stdout.write((await weft(['apply', '-f', join(work, 'canary.yaml')])).out.replace(/^/gm, '    '));
  await new Promise((r) => setTimeout(r, 500));
  await run('canary 80/20', 1000);

  step('killing orders-v1-a mid-run');
  client.p.stdin.write('run 1000\n');
  const pending = client.wait(/^\{/, 60000);
  await new Promise((r) => setTimeout(r, 150));
  instances[0].proc.kill('SIGKILL');
  results.push({ phase: 'instance killed', ...JSON.parse(await pending) });

  step('weft delete grpcroute orders-canary');
  process.stdout.write((await weft(['delete', 'grpcroute', 'orders-canary'])).out.replace(/^/gm, '    '));
  await new Promise((r) => setTimeout(r, 500));
  await run('canary removed', 600);

  step('weft proxy-status');
  process.stdout.write((await weft(['proxy-status'])).out.replace(/^/gm, '    '));

  step('summary');
  const names = instances.map((i) => i.name);
  const head = ['phase', 'requests', 'success %', ...names];
  const rows = results.map((r) => {
    const ok = Object.values(r.counts).reduce((s, x) => s + x, 0);
    const total = ok + r.errors;
    return [r.phase, String(total), ((100 * ok) / total).toFixed(1), ...names.map((n) => `${(((r.counts[n] ?? 0) * 100) / Math.max(ok, 1)).toFixed(1)}%`)];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(fmt(head));
  for (const r of rows) console.log(fmt(r));
  client.p.stdin.write('quit\n');
  console.log('\ndemo finished; stopping everything.');
} catch (e) {
  console.error(`demo failed: ${e.message}`);
  process.exitCode = 1;
} finally {
  stopAll();
}
