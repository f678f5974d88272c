// The pooled fixed-rate tail (bench/weft-tail.sh, bench/tail-pool.mjs, bench/wrk-paced-hist.lua):
// percentiles come from every request of every round (a known histogram gives the known values, and
// the pooled p99 is not the median of the rounds' p99s); a target that answered errors is FAILED
// with the reason and no figures, in the table, the JSON and report.mjs's exit code; a healthy
// run through a real sidecar gives figures whose request count is wrk's own.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandRun } from '../../harness/run-command.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bench = (f: string): string => join(root, 'bench', f);

const run = (cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<CommandRun> => runCommand(cmd, args, { env, timeoutMs });

interface TailRow {
  key: string; failed?: string; requests?: number; p50Ms?: number; p90Ms?: number; p99Ms?: number; p999Ms?: number;
  roundsP99MedianMs?: number; p99VsNginx?: number | null; rounds?: Array<{ round: number; p99Ms: number }>;
}
const rowsOf = (d: string): TailRow[] => (JSON.parse(readFileSync(join(d, 'tail.json'), 'utf8')) as { rows: TailRow[] }).rows;

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'weft-bench-tail-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tail-pool.mjs', () => {
  it('pools every round of a target into one distribution; a FAILED target has no figures', async () => {
    const d = mkdtempSync(join(dir, 'pool-'));
    // weft round 1: 99 requests at 1 ms and one at 9 ms (its own p99: 1 ms); round 2: 100 at 2 ms.
    // Pooled (200 requests): p50 = the 100th = 2 ms, p99 = the 198th = 2 ms, p99.9 = the 200th = 9 ms;
    // the median of the rounds' p99s (the proxy table's method) is 1.5 ms.
    // nginx: 200 requests at 1 ms. haproxy: FAILED.
    writeFileSync(join(d, 'hist'), ['weft:1 1000 99', 'weft:1 9000 1', 'weft:2 2000 100', 'nginx:1 1000 100', 'nginx:2 1000 100'].join('\n') + '\n');
    writeFileSync(join(d, 'rounds'), ['weft 1 1.0 1.0 80.5', 'weft 2 2.0 2.0 90.5', 'nginx 1 1.0 1.0 40', 'nginx 2 1.0 1.0 42'].join('\n') + '\n');
    writeFileSync(join(d, 'failed'), 'haproxy\tfixed-rate run: 9 of 9 responses were not 2xx/3xx (round 1)\n');
    const config = JSON.stringify({ latRate: 2000, conns: 10, rounds: 2, durationS: 5, saturationS: 1 });
    const r = await run('node', [bench('tail-pool.mjs'), join(d, 'hist'), join(d, 'rounds'), join(d, 'failed'), join(d, 'tail.txt'), config]);
    expect(r.code, r.stderr).toBe(0);
    const rows = rowsOf(d);
    const weft = rows.find((x) => x.key === 'weft')!;
    expect(weft).toMatchObject({ requests: 200, p50Ms: 2, p90Ms: 2, p99Ms: 2, p999Ms: 9, roundsP99MedianMs: 1.5, p99VsNginx: 2 });
    expect(rows.find((x) => x.key === 'nginx')).toMatchObject({ requests: 200, p99Ms: 1, p99VsNginx: 1 });
    const haproxy = rows.find((x) => x.key === 'haproxy')!;
    expect(haproxy.failed).toMatch(/not 2xx/);
    expect(haproxy.p99Ms).toBeUndefined();
    const text = readFileSync(join(d, 'tail.txt'), 'utf8');
    expect(text).toMatch(/^weft\s+200\s+2\.000\s+2\.000\s+2\.00\s+9\.00\s+2\.00x\s+1\.50\s+1\.50x\s+85\.5$/m);
    expect(text).toMatch(/^haproxy\s+FAILED: fixed-rate run: 9 of 9 responses/m);
  });

  it('report.mjs gives weft and the Node floor against nginx, and the verdict on the aim', async () => {
    const d = mkdtempSync(join(dir, 'report-'));
    // nginx 1 ms; weft 1.6 ms (p99 1.6x: aim missed); node-floor 1.2 ms (1.2x).
    writeFileSync(join(d, 'hist'), ['nginx:1 1000 100', 'weft:1 1600 100', 'node-floor:1 1200 100'].join('\n') + '\n');
    writeFileSync(join(d, 'rounds'), ['nginx 1 1.0 1.0 40', 'weft 1 1.6 1.6 70', 'node-floor 1 1.2 1.2 50'].join('\n') + '\n');
    writeFileSync(join(d, 'failed'), '');
    const config = JSON.stringify({ latRate: 2000, conns: 10, rounds: 1, durationS: 5, saturationS: 1 });
    const r = await run('node', [bench('tail-pool.mjs'), join(d, 'hist'), join(d, 'rounds'), join(d, 'failed'), join(d, 'tail.txt'), config]);
    expect(r.code, r.stderr).toBe(0);
    const rep = await run('node', [bench('report.mjs'), d]);
    expect(rep.stdout).toMatch(/^fixed-rate tail: weft's pooled p99 1\.6x nginx's \(aim <= 1\.5x: missed\); a featureless Node proxy on the same parser: 1\.2x$/m);
    const summary = JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as { scenarios: { tail: Record<string, unknown> } };
    expect(summary.scenarios.tail).toMatchObject({ weftP99VsNginx: 1.6, meetsAim: false, nodeFloorP99VsNginx: 1.2 });
  });
});

describe('weft-tail.sh through a real sidecar', () => {
  const quick = { TAIL_TARGETS: 'weft node-floor', TAIL_ROUNDS: '2', TAIL_DURATION: '1', TAIL_SATURATION: '0', LAT_RATE: '500', TAIL_WARMUP: '0' };

  it('an upstream answering 503: the rows are FAILED with the reason, no figures, exit 1; report.mjs exits 1 too', async () => {
    const d = mkdtempSync(join(dir, 'bad-'));
    const r = await run('bash', [bench('weft-tail.sh')], { ...quick, UPSTREAM_STATUS: '503', RESULTS_DIR: d });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^weft\s+FAILED: fixed-rate run: \d+ of \d+ responses were not 2xx\/3xx \(round 1\)$/m);
    expect(r.stdout).toMatch(/^node-floor\s+FAILED: fixed-rate run: \d+ of \d+ responses were not 2xx\/3xx \(round 1\)$/m);
    expect(rowsOf(d)).toEqual([
      { key: 'weft', failed: expect.stringMatching(/not 2xx/) as unknown },
      { key: 'node-floor', failed: expect.stringMatching(/not 2xx/) as unknown },
    ]);
    const rep = await run('node', [bench('report.mjs'), d]);
    expect(rep.code).toBe(1);
    expect(rep.stdout).toMatch(/FAILED {2}tail \/ weft: fixed-rate run: .*not 2xx/);
  }, 120_000);

  it('a healthy upstream: figures from both rounds pooled for Weft and the Node floor, exit 0', async () => {
    const d = mkdtempSync(join(dir, 'ok-'));
    const r = await run('bash', [bench('weft-tail.sh')], { ...quick, RESULTS_DIR: d });
    expect(r.code, r.stderr).toBe(0);
    const rows = rowsOf(d);
    expect(rows.map((x) => x.key)).toEqual(['weft', 'node-floor']);
    for (const row of rows) {
      expect(row.failed).toBeUndefined();
      expect(row.rounds).toHaveLength(2);
      // Two 1-second runs at 500 req/s: every request wrk counted is in the pooled histogram.
      expect(row.requests, row.key).toBeGreaterThan(800);
      expect(row.requests).toBeLessThan(1200);
      expect(row.p50Ms).toBeGreaterThan(0);
      expect(row.p99Ms).toBeGreaterThanOrEqual(row.p50Ms!);
      expect(row.p99VsNginx).toBeNull(); // no nginx row in this run
    }
  }, 120_000);

  it('a warm-up round runs first and is reported apart, not pooled', async () => {
    const d = mkdtempSync(join(dir, 'warm-'));
    const r = await run('bash', [bench('weft-tail.sh')], { ...quick, TAIL_WARMUP: '1', RESULTS_DIR: d });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/2 targets x \(1 warm-up \+ 2\) rounds/);
    expect(r.stdout).toMatch(/after 1 warm-up round of the same shape \(not pooled\)/);
    expect(r.stdout).toMatch(/^first rounds \(warm-up, not pooled\), wrk p99 ms:(?=.* weft \d+(?:\.\d+)?\b)(?=.* node-floor \d+(?:\.\d+)?\b)/m);
    expect(readFileSync(join(d, 'tail.txt'), 'utf8')).toMatch(/^first rounds \(warm-up/m);
    for (const row of rowsOf(d)) {
      expect(row.rounds?.map((x) => x.round)).toEqual([1, 2]);
      // Three 1-second runs were made; only the two counted ones are in the pool.
      expect(row.requests, row.key).toBeLessThan(1200);
    }
  }, 120_000);
});
