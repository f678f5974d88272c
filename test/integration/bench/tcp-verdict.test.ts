// The tcp benchmark (bench/weft-tcp.sh, issue 21) must not publish a number for a target that
// failed. redis-benchmark 7 stops at the first error reply and hangs when it cannot connect, so
// bench/redis-bench-verdict.mjs decides from its output and exit code. Real redis-benchmark against
// a real redis-server (ok, four figures), a server closing every connection and one answering
// errors (FAILED, exit 1); and the script itself: a direct row gives figures and exits 0, a row cut
// by its time bound is FAILED in tcp.txt, tcp.json and report.mjs, and exits 1.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTool, startRedis } from '../../harness/l4-servers.js';
import { runCommand, type CommandRun } from '../../harness/run-command.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bench = (f: string): string => join(root, 'bench', f);

const run = (cmd: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CommandRun> => runCommand(cmd, args, { env, timeoutMs });

/** A loopback server that treats each connection with `onConn`; closed by the returned function. */
async function fakeServer(onConn: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer((s) => {
    s.on('error', () => undefined);
    onConn(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'weft-bench-tcp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** redis-benchmark -q -t ping,set,get -n 500 -c 4 against port (at most 5 s), then the verdict on its output. */
async function benchAndVerdict(port: number, name: string): Promise<CommandRun> {
  const r = await runTool('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-q', '-t', 'ping,set,get', '-n', '500', '-c', '4'], { timeoutMs: 5000 });
  const out = join(dir, `${name}.txt`);
  writeFileSync(out, r.stdout + r.stderr);
  const code = r.timedOut ? 137 : (r.code ?? 1);
  return run(process.execPath, [bench('redis-bench-verdict.mjs'), '--exit', String(code), '--tests', 'ping,set,get', '--requests', '500', out]);
}

describe('redis-benchmark verdict on real output', () => {
  it('a real redis-server: ok, the operations, overall and four per-test figures', async () => {
    const redis = await startRedis();
    try {
      const v = await benchAndVerdict(redis.port, 'ok');
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toMatch(/^ok 2000 [\d.]+ [\d.]+ [\d.]+ [\d.]+ [\d.]+\n$/);
    } finally {
      await redis.stop();
    }
  }, 15_000);

  it('a server closing every connection, and one answering errors: FAILED with the reason, exit 1', async () => {
    const closer = await fakeServer((s) => s.destroy());
    const erring = await fakeServer((s) => s.on('data', () => s.write('-ERR denied\r\n')));
    try {
      const closed = await benchAndVerdict(closer.port, 'closed');
      expect(closed.stdout).toMatch(/^FAILED /);
      expect(closed.code).toBe(1);
      const errs = await benchAndVerdict(erring.port, 'errors');
      expect(errs.stdout).toMatch(/^FAILED redis-benchmark: .*ERR denied/);
      expect(errs.code).toBe(1);
    } finally {
      closer.close();
      erring.close();
    }
  }, 20_000);
});

describe('bench/weft-tcp.sh', () => {
  it('a direct row gives figures and exits 0; a row cut by its time bound is FAILED everywhere and exits 1', async () => {
    const good = join(dir, 'good');
    const ok = await run('bash', [bench('weft-tcp.sh')], { ROWS: 'direct', REQUESTS: '1000', CLIENTS: '4', TIME_BOUND: '10', RESULTS_DIR: good });
    expect(ok.code, ok.stderr).toBe(0);
    const j = JSON.parse(readFileSync(join(good, 'tcp.json'), 'utf8')) as { rows: Array<{ key: string; opsPerS: number | null; failed?: string }> };
    expect(j.rows).toHaveLength(1);
    expect(j.rows[0]!.opsPerS).toBeGreaterThan(0);

    // 4 million operations cannot finish in 1 s: the time bound cuts the run.
    const bad = join(dir, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'run.json'), JSON.stringify({ runId: 't', startedAt: new Date(Date.now() - 1000).toISOString(), skipped: ['xdsConvergence', 'filterChain', 'proxy', 'proxy16k', 'twoHop', 'footprint', 'transcode', 'workers', 'edge', 'api'] }));
    const cut = await run('bash', [bench('weft-tcp.sh')], { ROWS: 'direct', REQUESTS: '1000000', CLIENTS: '4', TIME_BOUND: '1', RESULTS_DIR: bad });
    expect(cut.code).toBe(1);
    expect(readFileSync(join(bad, 'tcp.txt'), 'utf8')).toMatch(/^direct\s+FAILED: redis-benchmark did not finish within its time bound/m);
    const jb = JSON.parse(readFileSync(join(bad, 'tcp.json'), 'utf8')) as { rows: Array<{ key: string; opsPerS: number | null; failed?: string }> };
    expect(jb.rows[0]).toMatchObject({ key: 'direct', opsPerS: null, failed: expect.stringMatching(/time bound/) });
    const report = await run(process.execPath, [bench('report.mjs'), bad]);
    expect(report.stdout).toMatch(/FAILED {2}tcp \/ direct: redis-benchmark did not finish/);
    expect(report.code).toBe(1);
  }, 40_000);
});
