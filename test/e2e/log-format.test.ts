// Daemon logs (issue 23): JSON by default with ISO 8601 time, `--log-format pretty` for terminals
// (control plane and sidecar), and nothing printed at start but the logs: no deprecation or
// experimental warning from Node. The processes run with --pending-deprecation, which also makes
// Node 20 print the deprecations newer Node versions print at run time (Buffer(), punycode, ...).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startControlPlane, startSidecar, tempDir, WEFT, type ControlPlaneProc, type SidecarProc } from '../harness/processes.js';

const NODE_WARNING = /\(node:\d+\)|DeprecationWarning|ExperimentalWarning|\bDEP0\d{3}\b/;
const PRETTY = /^err \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/;

const procs: Array<ControlPlaneProc | SidecarProc> = [];
beforeAll(() => {
  // Children spawned from this file only (each test file runs in its own process).
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --pending-deprecation`.trim();
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
});

/** stderr lines of `p` once `done(lines)` holds (bounded). */
async function stderrOf(p: { output(): string }, done: (lines: string[]) => boolean): Promise<string[]> {
  return eventually(() => {
    const lines = p.output().split('\n').filter((l) => l.startsWith('err '));
    return done(lines) ? lines : undefined;
  }, 15_000, 50);
}

describe('daemon logs', () => {
  it('control plane, default: JSON lines with ISO 8601 time; no Node warning at start', async () => {
    const cp = await startControlPlane({ extraArgs: ['--log-level', 'info'] });
    procs.push(cp);
    const lines = await stderrOf(cp, (l) => l.some((x) => x.includes('control plane ready')));
    for (const l of lines) {
      expect(l).not.toMatch(NODE_WARNING);
      const rec = JSON.parse(l.slice(4)) as { time: unknown; level: unknown; msg: unknown };
      expect(rec.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });

  it('control plane and sidecar, --log-format pretty: one readable line per event; no Node warning at start', async () => {
    const cp = await startControlPlane({ extraArgs: ['--log-level', 'info', '--log-format', 'pretty'] });
    procs.push(cp);
    const cpLines = await stderrOf(cp, (l) => l.some((x) => x.includes('control plane ready')));
    for (const l of cpLines) expect(l).toMatch(PRETTY);
    expect(cpLines.find((l) => l.includes('control plane ready'))).toMatch(/ INFO  control plane ready .*xds=127\.0\.0\.1:\d+ /);

    // App port 1: nothing listens there, so the sidecar logs a warning even at --log-level warn.
    const sc = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1, extraArgs: ['--log-format', 'pretty'] });
    procs.push(sc);
    const scLines = await stderrOf(sc, (l) => l.some((x) => x.includes('nothing is listening on the app port')));
    for (const l of scLines) {
      expect(l).toMatch(PRETTY);
      expect(l).not.toMatch(NODE_WARNING);
    }
    expect(scLines.find((l) => l.includes('nothing is listening'))).toMatch(/ WARN  nothing is listening on the app port 127\.0\.0\.1:1 .* component=app app=127\.0\.0\.1:1 reason="connection refused"/);
    expect(cp.output()).not.toMatch(NODE_WARNING);
  });

  // pino throws on a level it does not know: the sidecar ended with a stack trace.
  it.each([
    ['sidecar', ['sidecar', '--service', 'web', '--app-port', '1', '--control-plane', '127.0.0.1:1'], { WEFT_LOG_LEVEL: 'verbose' }, /^weft sidecar: WEFT_LOG_LEVEL: want one of trace, debug, info, warn, error, fatal, silent, got 'verbose'$/m],
    ['gateway', ['gateway', '--gateway', 'default/edge', '--control-plane', '127.0.0.1:1'], { WEFT_LOG_LEVEL: 'verbose' }, /^weft gateway: WEFT_LOG_LEVEL: want one of/m],
    ['control plane (variable)', ['control-plane', '--data-dir', '<tmp>'], { WEFT_LOG_LEVEL: 'verbose' }, /^error: WEFT_LOG_LEVEL: want one of/m],
    ['control plane (flag)', ['control-plane', '--data-dir', '<tmp>', '--log-level', 'verbose'], {}, /^error: --log-level: want one of/m],
  ])('%s with an unknown log level: exit 2 and a usage error naming it, no stack trace', (_name, args, env, why) => {
    const r = spawnSync(process.execPath, [WEFT, ...args.map((a) => (a === '<tmp>' ? tempDir('weft-cp-') : a))], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
