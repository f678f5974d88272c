// xDS convergence: the time from an apply (admin API call, what `weft apply` sends) until every
// connected proxy has ACKed the new cluster version, for N simulated proxies; and control-plane RSS.
// The mesh (services and their endpoints) is applied once; each change is one TrafficPolicy file.
// Run by `make bench` (vitest runs it with bench/vitest.config.ts); prints a table and writes JSON.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { ROOT, startControlPlane, type ControlPlaneProc } from '../test/harness/processes.js';
import { TYPE_URL } from '../common/xds-types.js';
import { SimProxy } from './sim-proxy.js';

// Default: 1,000 proxies and 10,000 endpoints (100 services x 90 static endpoints, plus the 1,000
// proxies' own registered instances), for delta (what Weft sidecars speak) and state of the world
// (Envoy's default, grpc-js).
const SIZES = (process.env.XDS_BENCH_PROXIES ?? '1000').split(',').map(Number);
const SERVICES = Number(process.env.XDS_BENCH_SERVICES ?? 100);
const ENDPOINTS = Number(process.env.XDS_BENCH_ENDPOINTS_PER_SERVICE ?? 90);
const PROTOCOLS = (process.env.XDS_BENCH_PROTOCOLS ?? 'delta,sotw').split(',') as Array<'delta' | 'sotw'>;
const CHANGES = Number(process.env.XDS_BENCH_CHANGES ?? 5);
// Extra `weft control-plane` flags, e.g. "--xds-push-budget 8".
const CP_ARGS = (process.env.XDS_BENCH_CP_ARGS ?? '').split(' ').filter(Boolean);

function rssMiB(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The control plane's own view of its memory (prom-client default metrics on /metrics), MiB. */
async function cpMemory(cp: ControlPlaneProc): Promise<{ heapMiB: number; externalMiB: number }> {
  const text = await (await fetch(`${cp.adminUrl}/metrics`)).text();
  const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  return { heapMiB: metric('nodejs_heap_size_total_bytes'), externalMiB: metric('nodejs_external_memory_bytes') };
}

async function admin(cp: ControlPlaneProc, content: string): Promise<void> {
  const token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
  const res = await fetch(`${cp.adminUrl}/v1/apply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ files: [{ name: 'bench.yaml', content }] }),
  });
  if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
}

/** The mesh: SERVICES services with ENDPOINTS static endpoints each (applied once, ~0.7 MB of YAML). */
function services(): string {
  const docs: string[] = [];
  for (let s = 0; s < SERVICES; s++) {
    const eps = Array.from({ length: ENDPOINTS }, (_, e) => `    - { address: 127.1.${s % 250}.${(e % 250) + 1}, port: ${9000 + e} }`).join('\n');
    docs.push(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: svc-${s} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints:\n${eps}`);
  }
  return docs.join('\n---\n');
}

/** The change each round applies, as an operator would: one TrafficPolicy file. */
function policy(timeoutMs: number): string {
  return `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: svc-0 }\nspec:\n  targetRef: { kind: Service, name: svc-0 }\n  connectionPool: { connectTimeout: ${timeoutMs}ms }`;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('xDS convergence', () => {
  it('apply -> every proxy ACKs', async () => {
    const rows: Array<Record<string, number>> = []; // protocol: 1 delta, 0 state of the world
    for (const protocol of PROTOCOLS) for (const n of SIZES) {
      // The simulated proxies register over the plaintext port, which needs the operator's opt-in.
      const cp = await startControlPlane({ extraArgs: ['--registry-grace', '1s', '--xds-plaintext-register', ...CP_ARGS] });
      try {
        await admin(cp, `${services()}\n---\n${policy(1000)}`);
        const proxies = Array.from({ length: n }, (_, i) => new SimProxy({ address: `127.0.0.1:${cp.xdsPort}`, id: `sim-${i}`, service: `svc-${i % SERVICES}`, instancePort: 20000 + i, protocol }));
        await until(() => proxies.every((p) => p.versions.has(TYPE_URL.cluster) && p.versions.has(TYPE_URL.endpoint) && p.versions.has(TYPE_URL.route)), 120_000, `${n} proxies synced`);
        await new Promise((r) => setTimeout(r, 1500)); // registrations settle (debounced EDS pushes)
        const times: number[] = [];
        for (let c = 1; c <= CHANGES; c++) {
          const before = proxies.map((p) => p.versions.get(TYPE_URL.cluster));
          const t0 = performance.now();
          await admin(cp, policy(1000 + c));
          await until(() => proxies.every((p, i) => p.versions.get(TYPE_URL.cluster) !== before[i]), 60_000, 'all ACKed');
          const done = Math.max(...proxies.map((p) => p.acked.get(TYPE_URL.cluster)!.get(p.versions.get(TYPE_URL.cluster)!)!));
          times.push(done - t0);
        }
        rows.push({ protocol: protocol === 'delta' ? 1 : 0, proxies: n, services: SERVICES, endpoints: SERVICES * ENDPOINTS + n, p50ms: pct(times, 50), maxms: Math.max(...times), rssMiB: rssMiB(cp.proc.pid!), peakMiB: rssMiB(cp.proc.pid!, 'VmHWM'), ...(await cpMemory(cp)) });
        for (const p of proxies) p.close();
      } finally {
        await cp.kill();
      }
    }
    const lines = [
      'xDS convergence: admin apply -> every proxy ACKed the new CDS version (sidecar-like subscriptions); target: all within 1 s, CP < 300 MB',
      `${'protocol'.padEnd(9)}${'proxies'.padStart(8)}${'services'.padStart(10)}${'endpoints'.padStart(11)}${'p50 ms'.padStart(9)}${'max ms'.padStart(9)}${'CP RSS MiB'.padStart(12)}${'peak MiB'.padStart(10)}${'heap MiB'.padStart(10)}${'ext MiB'.padStart(9)}`,
      ...rows.map((r) => `${(r.protocol ? 'delta' : 'sotw').padEnd(9)}${String(r.proxies).padStart(8)}${String(r.services).padStart(10)}${String(r.endpoints).padStart(11)}${r.p50ms!.toFixed(0).padStart(9)}${r.maxms!.toFixed(0).padStart(9)}${r.rssMiB!.toFixed(1).padStart(12)}${r.peakMiB!.toFixed(1).padStart(10)}${r.heapMiB!.toFixed(1).padStart(10)}${r.externalMiB!.toFixed(1).padStart(9)}`),
      `(${CHANGES} changes per size; the control plane debounces pushes by 30 ms, at most 300 ms; heap = V8 heap committed, ext = buffers and other memory outside it)`,
    ];
    console.log(`\n${lines.join('\n')}\n`);
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'xds-convergence.json'), JSON.stringify({ at: new Date().toISOString(), rows }, null, 2));
    writeFileSync(join(dir, 'xds-convergence.txt'), `${lines.join('\n')}\n`);
  }, 600_000);
});
