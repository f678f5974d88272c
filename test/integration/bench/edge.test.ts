// The edge benchmark's own pieces (bench/weft-edge.sh): its TLS connection client
// (bench/tls-connect-load.mjs) against a real HTTPS server does a full handshake per request, or
// resumes and says so; answers that are not 2xx/3xx make the verdict FAILED, never a number; and
// report.mjs lists an edge row a side of which FAILED, while a row not run in this build (its
// policy kind missing) is listed as not run, not as a failure.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupCerts, selfSignedCert, type TestCert } from '../../harness/certs.js';
import { runCommand, type CommandRun } from '../../harness/run-command.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bench = (f: string): string => join(root, 'bench', f);

const run = (cmd: string, args: string[], timeoutMs = 30_000): Promise<CommandRun> => runCommand(cmd, args, { timeoutMs });

let dir: string;
let cert: TestCert;
let status = 200;
let server: https.Server;
let port: number;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-bench-edge-'));
  cert = selfSignedCert(['bench.example.com']);
  server = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => {
    res.writeHead(status, { 'content-length': '2' });
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(() => {
  server?.close();
  cleanupCerts();
  rmSync(dir, { recursive: true, force: true });
});

/** tls-connect-load for 1 s at 40 connections/s, then its verdict. */
async function load(...extra: string[]): Promise<{ result: string; verdict: CommandRun }> {
  const out = join(dir, `load-${Date.now()}.txt`);
  const r = await run(process.execPath, [bench('tls-connect-load.mjs'), '--port', String(port), '--ca', cert.certFile, '--rate', '40', '--duration', '1', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  writeFileSync(out, r.stdout);
  return { result: r.stdout, verdict: await run(process.execPath, [bench('wrk-verdict.mjs'), '--tls-connect', out]) };
}

describe('tls-connect-load: one TLS connection per request', () => {
  it('does a full handshake for every request by default', async () => {
    const { result, verdict } = await load();
    expect(result).toMatch(/^RESULT requests=40 ok=40 errors=0 non2xx=0 reused=0 /);
    expect(verdict.stdout).toMatch(/^ok 40 \d+ [0-9.]+ [0-9.]+ 0\n$/);
    expect(verdict.code).toBe(0);
  });

  it('with --resume resumes the session the server gave, and counts it', async () => {
    const { result, verdict } = await load('--resume');
    const reused = Number(/reused=(\d+)/.exec(result)?.[1]);
    expect(reused).toBeGreaterThanOrEqual(35); // the first connection (and any opened before its ticket came) cannot
    expect(verdict.code).toBe(0);
  });

  it('a server answering 503 makes the verdict FAILED', async () => {
    status = 503;
    try {
      const { verdict } = await load();
      expect(verdict.stdout).toBe('FAILED 40 of 40 responses were not 2xx/3xx\n');
      expect(verdict.code).toBe(1);
    } finally {
      status = 200;
    }
  });

  it('a port where nothing listens makes the verdict FAILED with the connection error', async () => {
    const out = join(dir, 'refused.txt');
    const r = await run(process.execPath, [bench('tls-connect-load.mjs'), '--port', '1', '--rate', '10', '--duration', '1']);
    writeFileSync(out, r.stdout);
    const v = await run(process.execPath, [bench('wrk-verdict.mjs'), '--tls-connect', out]);
    expect(v.stdout).toBe('FAILED 10 of 10 connections failed (first: ECONNREFUSED)\n');
    expect(v.code).toBe(1);
  });
});

describe('report.mjs: the edge scenario', () => {
  const side = (cpu: number, p99: number | null) => ({ rps: 1000, cpuUsPerReq: cpu, p50Ms: 1, p99Ms: p99, evidence: '', rounds: [] });
  const edgeJson = (rows: unknown[]) => JSON.stringify({ at: 'now', config: { aim: 2.5, latRate: 500, connRate: 100, gzipRate: 200 }, rows });

  it('lists a row whose Weft side FAILED, and exits 1', async () => {
    const results = join(dir, 'edge-failed');
    mkdirSync(results);
    writeFileSync(join(results, 'edge.json'), edgeJson([
      { key: 'keepalive', label: 'k', weft: side(60, 3), nginx: side(30, 2), ratio: { cpu: 2, p99: 1.5 }, meetsAim: true },
      { key: 'gzip', label: 'g', weft: { failed: '3 of 9 responses were not 2xx/3xx', rps: null, cpuUsPerReq: null, p50Ms: null, p99Ms: null }, nginx: side(500, 4), ratio: { cpu: null, p99: null }, meetsAim: null },
    ]));
    const rep = await run(process.execPath, [bench('report.mjs'), results]);
    expect(rep.stdout).toMatch(/^FAILED {2}edge \/ gzip \(weft\): 3 of 9 responses were not 2xx\/3xx$/m);
    expect(rep.code).toBe(1);
  });

  it('a row not run in this build is listed as such, not FAILED; the aim is summarised', async () => {
    const results = join(dir, 'edge-ok');
    mkdirSync(results);
    writeFileSync(join(results, 'edge.json'), edgeJson([
      { key: 'new', label: 'n', weft: side(900, 9), nginx: side(300, 5), ratio: { cpu: 3, p99: 1.8 }, meetsAim: false },
      { key: 'keepalive', label: 'k', weft: side(60, 3), nginx: side(30, 2), ratio: { cpu: 2, p99: 1.5 }, meetsAim: true },
      { key: 'cache', label: 'c', notRun: 'not run: CachePolicy not in this build' },
    ]));
    const rep = await run(process.execPath, [bench('report.mjs'), results]);
    expect(rep.stdout).not.toMatch(/FAILED/);
    expect(rep.code).toBe(0);
    const edge = (JSON.parse(readFileSync(join(results, 'summary.json'), 'utf8')) as { scenarios: { edge: Record<string, unknown> } }).scenarios.edge;
    expect(edge).toMatchObject({ aim: 2.5, meetingAim: ['keepalive'], missingAim: ['new'], notRun: [{ key: 'cache', reason: 'not run: CachePolicy not in this build' }] });
  });
});
