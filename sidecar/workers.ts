/**
 * `weft sidecar --workers N`: one sidecar on N cores, for edge use. The primary process forks N
 * workers with node:cluster; each is a complete sidecar (identity, ADS stream, listeners, pools)
 * and the listeners' ports are shared through cluster. Round-robin scheduling (cluster's default
 * on Linux): the primary accepts each connection and hands it to the next worker, so keep-alive
 * connections spread evenly; with SCHED_NONE the kernel woke whichever worker was idle first and
 * one worker took most connections (bench/weft-workers.sh measured both).
 *
 * Workers share the node id: the control plane counts one instance with N streams (it leaves the
 * registry when the last stream closes), and `weft proxy-status` lists one row per worker.
 * The admin port belongs to the primary: `/ready` is 200 when every worker is ready,
 * `/stats/prometheus` sums every worker's samples (plus `weft_sidecar_workers`), and
 * `/config_dump` and `/clusters` come from worker 1 (all workers get the same config), and
 * `/workers` lists the workers (pid, own admin address, ready).
 * SIGTERM/SIGINT drain every worker; a worker that dies is replaced after a second, unless
 * workers keep dying (5 in a minute) or one dies before it was ever ready: then the primary stops
 * the rest and exits 1.
 */
import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a worker tells the primary once it is serving. */
export interface WorkerReady {
  weftReady: { id: string; outbound: string; inbound: string; admin: string };
}

function isReady(m: unknown): m is WorkerReady {
  return typeof m === 'object' && m !== null && 'weftReady' in m;
}

/** The number of workers `--workers` asks for: a positive integer or `auto` (one per core). */
export function parseWorkers(v: string | undefined, cores: number): number {
  if (v === undefined) return 1;
  if (v === 'auto') return Math.max(1, cores);
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers: want a positive integer or 'auto', got '${v}'`);
  return n;
}

/** In a worker: report readiness to the primary instead of printing the ready line. */
export function reportReady(r: WorkerReady['weftReady']): void {
  process.send?.({ weftReady: r } satisfies WorkerReady);
}

export const inWorker = (): boolean => cluster.isWorker;

async function fetchText(addr: string, path: string): Promise<{ status: number; body: string }> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve) => {
    const req = http.get({ host, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, body }));
      res.on('error', () => resolve({ status: 502, body: '' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 502, body: `${e.message}\n` }));
  });
}

/**
 * Sums Prometheus text expositions sample by sample (same name and labels). HELP/TYPE lines are
 * kept once, in first-seen order.
 */
export function sumExpositions(texts: readonly string[]): string {
  const meta = new Map<string, string[]>();
  const order: string[] = [];
  const samples = new Map<string, Map<string, number>>();
  for (const t of texts) {
    let family = '';
    for (const line of t.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        const name = line.split(' ')[2] ?? '';
        family = name;
        if (!meta.has(name)) {
          meta.set(name, []);
          order.push(name);
          samples.set(name, new Map());
        }
        const m = meta.get(name)!;
        if (!m.includes(line)) m.push(line);
        continue;
      }
      const sp = line.lastIndexOf(' ');
      const key = line.slice(0, sp);
      const v = Number(line.slice(sp + 1));
      if (!samples.has(family)) {
        samples.set(family, new Map());
        meta.set(family, []);
        order.push(family);
      }
      const fam = samples.get(family)!;
      fam.set(key, (fam.get(key) ?? 0) + (Number.isFinite(v) ? v : 0));
    }
  }
  let out = '';
  for (const name of order) {
    for (const m of meta.get(name)!) out += `${m}\n`;
    for (const [k, v] of samples.get(name)!) out += `${k} ${v}\n`;
  }
  return out;
}

/** Runs the primary: forks the workers, serves the admin port, prints one ready line. */
export async function runPrimary(n: number, adminHost: string, adminPort: number): Promise<void> {
  const workers = new Map<number, { w: Worker; ready?: WorkerReady['weftReady'] }>();
  const deaths: number[] = [];
  let stopping = false;
  let printed = false;
  let first: WorkerReady['weftReady'] | undefined;

  const readyAll = () => workers.size === n && [...workers.values()].every((x) => x.ready);
  const ordered = () => [...workers.entries()].sort((a, b) => a[0] - b[0]).map(([, x]) => x);

  const admin = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    const ws = ordered();
    if (path === '/ready') {
      if (stopping) return send(503, 'text/plain', 'DRAINING\n');
      // Until every worker was ready once; after that a worker being replaced does not count.
      const up = ws.filter((x) => x.ready);
      if (!printed || up.length === 0) return send(503, 'text/plain', `NOT READY: ${up.length} of ${n} workers ready\n`);
      void Promise.all(up.map((x) => fetchText(x.ready!.admin, '/ready'))).then((rs) => {
        const bad = rs.findIndex((r) => r.status !== 200);
        send(bad < 0 ? 200 : 503, 'text/plain', bad < 0 ? 'LIVE\n' : `worker ${bad + 1}: ${rs[bad]!.body}`);
      });
      return;
    }
    if (path === '/workers') {
      const list = [...workers.entries()].sort((x, y) => x[0] - y[0]).map(([k, x]) => ({ worker: k, pid: x.w.process.pid ?? null, ready: x.ready !== undefined, admin: x.ready?.admin ?? null }));
      return send(200, 'application/json', `${JSON.stringify(list, null, 2)}\n`);
    }
    const target = ws.find((x) => x.ready)?.ready;
    if (!target) return send(503, 'text/plain', 'no worker is ready yet\n');
    if (path === '/stats/prometheus') {
      void Promise.all(ws.filter((x) => x.ready).map((x) => fetchText(x.ready!.admin, '/stats/prometheus'))).then((rs) => {
        const extra = `# HELP weft_sidecar_workers Worker processes serving this sidecar's listeners.\n# TYPE weft_sidecar_workers gauge\nweft_sidecar_workers ${ws.filter((x) => x.ready).length}\n`;
        send(200, 'text/plain; version=0.0.4; charset=utf-8', sumExpositions([...rs.map((r) => r.body), extra]));
      });
      return;
    }
    void fetchText(target.admin, req.url ?? '/').then((r) => send(r.status, path === '/config_dump' || path === '/clusters' ? 'application/json' : 'text/plain', r.body));
  });
  await new Promise<void>((res, rej) => {
    admin.once('error', rej);
    admin.listen(adminPort, adminHost, () => res());
  });
  const adminAddr = admin.address() as AddressInfo;

  const exitAll = (code: number) => {
    stopping = true;
    for (const { w } of workers.values()) w.process.kill('SIGTERM');
    const done = () => {
      if ([...workers.values()].every((x) => x.w.isDead())) {
        admin.close();
        process.exit(code);
      }
    };
    done();
    cluster.on('exit', done);
  };

  const fork = (k: number) => {
    const w = cluster.fork({ WEFT_WORKER: String(k) });
    workers.set(k, { w });
    w.on('message', (m: unknown) => {
      if (!isReady(m)) return;
      const x = workers.get(k);
      if (x?.w !== w) return;
      x.ready = m.weftReady;
      if (k === 1) first = m.weftReady;
      if (!printed && readyAll() && first) {
        printed = true;
        process.stdout.write(`ready id=${first.id} outbound=${first.outbound} inbound=${first.inbound} admin=${adminAddr.address}:${adminAddr.port} workers=${n}\n`);
      }
    });
    w.on('exit', (code, signal) => {
      const x = workers.get(k);
      if (stopping || x?.w !== w) return;
      const wasReady = x.ready !== undefined;
      process.stderr.write(`weft sidecar: worker ${k} exited (${signal ?? `code ${code}`})\n`);
      if (!wasReady) {
        process.stderr.write('weft sidecar: a worker failed before it was ready; stopping\n');
        exitAll(typeof code === 'number' && code !== 0 ? code : 1);
        return;
      }
      const now = Date.now();
      deaths.push(now);
      while (deaths.length && now - deaths[0]! > 60_000) deaths.shift();
      if (deaths.length > 5) {
        process.stderr.write('weft sidecar: workers keep dying (more than 5 in a minute); stopping\n');
        exitAll(1);
        return;
      }
      workers.set(k, { w });
      setTimeout(() => {
        if (!stopping) fork(k);
      }, 1000).unref();
    });
  };
  for (let k = 1; k <= n; k++) fork(k);
  process.once('SIGTERM', () => exitAll(0));
  process.once('SIGINT', () => exitAll(0));
}
