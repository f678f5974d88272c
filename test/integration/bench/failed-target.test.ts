// Benchmarks must not publish numbers for a failing target (issue 17 item 9): a two-hop run whose
// target answered 22,909 req/s of 503s was once reported as 22,909 req/s. Real wrk against a tiny
// server answering 503 (bench/status-server.mjs): the verdict, bench/weft-two-hop.sh's direct row
// and bench/report.mjs must all say FAILED with the reason and exit non-zero; a healthy upstream
// must still give numbers and exit 0, so the check is not simply "always fail". Also: a proxy-table
// target that never started, and a result file from an earlier run, are FAILED, not read.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandRun } from '../../harness/run-command.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bench = (f: string): string => join(root, 'bench', f);

const run = (cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CommandRun> => runCommand(cmd, args, { env, timeoutMs });
const hasWrk = (await run('sh', ['-c', 'command -v wrk && command -v taskset'])).code === 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** bench/status-server.mjs on a free port, answering STATUS to everything. */
function statusServer(status: number): Promise<{ url: string; proc: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [bench('status-server.mjs'), '0', String(status)], { stdio: ['ignore', 'pipe', 'inherit'] });
    proc.once('error', reject);
    proc.stdout?.on('data', (d: Buffer) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve({ url: `http://127.0.0.1:${m[1]}/`, proc });
    });
  });
}

let dir: string;
beforeAll(() => {
  // make deps installs wrk; a missing one fails here rather than skipping the file.
  expect(hasWrk, 'wrk and taskset on PATH').toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'weft-bench-failed-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a target answering 503 is FAILED, never a number', () => {
  it('the verdict on real wrk output is FAILED: non-2xx, and exits 1', async () => {
    const s = await statusServer(503);
    try {
      const out = join(dir, 'wrk-503.txt');
      const w = await run('sh', ['-c', `wrk -t1 -c4 -d1s --latency ${s.url} > ${out} 2>&1`]);
      expect(w.code).toBe(0); // wrk itself is content with 503s: that is the bug this guards
      const v = await run(process.execPath, [bench('wrk-verdict.mjs'), '--percentiles', out]);
      expect(v.stdout).toMatch(/^FAILED \d+ of \d+ responses were not 2xx\/3xx/);
      expect(v.code).toBe(1);
    } finally {
      s.proc.kill();
    }
  });

  it('weft-two-hop.sh prints the direct row as FAILED with the reason and exits 1; report.mjs too', async () => {
    const results = join(dir, 'two-hop-503');
    mkdirSync(results);
    writeFileSync(join(results, 'run.json'), JSON.stringify({ runId: 't', startedAt: new Date(Date.now() - 1000).toISOString(),
      skipped: ['xdsConvergence', 'proxy', 'proxy16k', 'transcode', 'footprint', 'workers', 'edge'] }));
    const env = { MODES: '', TRACING_ROWS: '', UPSTREAM_STATUS: '503', LAT_DURATION: '1', DURATION: '1', RESULTS_DIR: results };
    const r = await run('bash', [bench('weft-two-hop.sh')], { ...env, UP_PORT: String(await freePort()) });
    expect(r.stdout).toMatch(/^direct +FAILED: fixed-rate run: \d+ of \d+ responses were not 2xx\/3xx/m);
    expect(r.code).toBe(1);
    const row = (JSON.parse(readFileSync(join(results, 'two-hop.json'), 'utf8')) as { rows: Record<string, unknown>[] }).rows[0];
    expect(row).toMatchObject({ key: 'direct', rps: null, p50Ms: null, p99Ms: null });
    expect(row?.failed).toMatch(/not 2xx\/3xx/);

    const rep = await run(process.execPath, [bench('report.mjs'), results]);
    expect(rep.stdout).toMatch(/^FAILED {2}twoHop \/ direct: fixed-rate run: \d+ of \d+ responses were not 2xx\/3xx/m);
    expect(rep.code).toBe(1);
  });

  it('against a healthy upstream the same run gives numbers and exits 0 (the check is not "always fail")', async () => {
    const results = join(dir, 'two-hop-200');
    const env = { MODES: '', TRACING_ROWS: '', LAT_DURATION: '1', DURATION: '1', RESULTS_DIR: results };
    const r = await run('bash', [bench('weft-two-hop.sh')], { ...env, UP_PORT: String(await freePort()) });
    expect(r.stdout).toMatch(/^direct +[0-9.]+ +[0-9.]+ +0\.000 +0\.000 +\d+ /m);
    expect(r.code).toBe(0);
    expect((await run(process.execPath, [bench('report.mjs'), results])).code).toBe(0);
  });
});

describe('report.mjs: a target that did not start, and stale files', () => {
  it('lists a proxy-table target that failed to start and one with wrk errors as FAILED, and exits 1', async () => {
    const results = join(dir, 'proxy');
    const stamp = join(results, '20260101-000000');
    mkdirSync(stamp, { recursive: true });
    writeFileSync(join(results, 'run.json'), JSON.stringify({ runId: 't', startedAt: new Date(Date.now() - 1000).toISOString(),
      skipped: ['xdsConvergence', 'proxy16k', 'twoHop', 'transcode', 'footprint', 'workers', 'edge'] }));
    const head = 'round\tlabel\tkind\trequests\tduration_us\tp50_us\tp90_us\tp99_us\tmax_us\terrors\n';
    writeFileSync(join(stamp, 'runs.tsv'), `${head}1\tdirect\tsat\t1000\t1000000\t100\t150\t300\t900\t0\n1\tdirect\trate\t500\t1000000\t90\t120\t250\t800\t0\n` +
      '1\tweft\tsat\t2000\t1000000\t100\t150\t300\t900\t2000\n1\tweft\trate\t500\t1000000\t90\t120\t250\t800\t500\n');
    writeFileSync(join(stamp, 'table.txt'), '# env\nhead\nmedian of 1 round(s)\nnginx               FAILED (not started or not answering 200; see the logs in the results folder)\n');
    const rep = await run(process.execPath, [bench('report.mjs'), results]);
    expect(rep.stdout).toMatch(/^FAILED {2}proxy \/ nginx: not started or not answering 200/m);
    expect(rep.stdout).toMatch(/^FAILED {2}proxy \/ weft: 2500 wrk errors/m);
    expect(rep.stdout).not.toMatch(/proxy \/ direct/);
    expect(rep.code).toBe(1);
    const summary = JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as { scenarios: { proxy: { rows: Record<string, unknown>[] } } };
    expect(summary.scenarios.proxy.rows.find((r) => r.target === 'weft')).toEqual({ target: 'weft', failed: expect.stringMatching(/wrk errors/), errors: 2500 });
  });

  it('does not read a result file older than this run as current: FAILED as stale, exit 1', async () => {
    const results = join(dir, 'stale');
    mkdirSync(results);
    const old = join(results, 'two-hop.json');
    writeFileSync(old, JSON.stringify({ at: 'earlier', config: {}, rows: [{ key: 'direct', name: 'direct', p50Ms: 0.2, p99Ms: 1, rps: 22909, rounds: [] }] }));
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(old, hourAgo, hourAgo);
    writeFileSync(join(results, 'run.json'), JSON.stringify({ runId: 't', startedAt: new Date().toISOString(),
      skipped: ['xdsConvergence', 'proxy', 'proxy16k', 'transcode', 'footprint', 'workers', 'edge'] }));
    const rep = await run(process.execPath, [bench('report.mjs'), results]);
    expect(rep.stdout).toMatch(/^FAILED {2}twoHop: only stale results from an earlier run/m);
    expect(rep.stdout).not.toMatch(/22909/);
    expect(readFileSync(join(results, 'summary.json'), 'utf8')).not.toMatch(/22909/);
    expect(rep.code).toBe(1);
  });
});
