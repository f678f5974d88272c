// Regression (issue 23): daemons started through `npx weft ...` printed nothing of their own pid, and
// killing the launcher's pid ($!) left the real daemon running. The README installs a real `weft`
// command (`make install-cli`, a symlink to bin/weft.js); each daemon prints pid=PID in its ready
// line, that pid is the process that was started, and SIGTERM or SIGINT to it stops it with exit 0.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { joinToken, ROOT, spawnNode, startControlPlane, tempDir, WEFT, type ControlPlaneProc } from '../harness/processes.js';

const EXIT_BOUND_MS = 10_000;

/** Exit code of `proc` after `signal`, or 'timeout' when it did not exit within the bound. */
async function exitAfter(proc: import('node:child_process').ChildProcess, signal: NodeJS.Signals): Promise<number | string | 'timeout'> {
  const exited = once(proc, 'exit').then(([code, sig]) => (code as number | null) ?? `signal ${String(sig)}`);
  proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), EXIT_BOUND_MS)));
  const r = await Promise.race([exited, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') proc.kill('SIGKILL');
  return r;
}

const cpArgs = (dataDir: string) => ['control-plane', '--data-dir', dataDir, '--xds-address', '127.0.0.1:0', '--admin-address', '127.0.0.1:0', '--otlp-address', 'off', '--log-level', 'warn'];

describe('daemons: their own pid, and signals stop them', () => {
  let cp: ControlPlaneProc | undefined;
  afterAll(async () => {
    await cp?.kill('SIGKILL');
  });

  it('`make install-cli` puts a weft command on PATH that runs bin/weft.js as the daemon process itself', async () => {
    const bin = join(tempDir('weft-bin-'), 'bin');
    // -o build: the suite runs on a built tree; only the install step is under test here.
    const make = spawnSync('make', ['-s', '-o', 'build', 'install-cli', `BINDIR=${bin}`], { cwd: ROOT, encoding: 'utf8' });
    expect(make.status, make.stderr).toBe(0);
    expect(readlinkSync(join(bin, 'weft'))).toBe(WEFT);
    const proc = spawn('weft', cpArgs(tempDir('weft-cp-')), { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'] });
    const [line] = (await Promise.race([once(createInterface({ input: proc.stdout! }), 'line'), once(proc, 'exit').then(() => ['exited'])])) as [string];
    expect(line).toMatch(/^weft control-plane ready .* pid=\d+$/);
    expect(Number(/pid=(\d+)/.exec(line)![1])).toBe(proc.pid);
    expect(await exitAfter(proc, 'SIGTERM')).toBe(0);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)('control plane: the logged pid is the process; %s stops it with exit 0', async (signal) => {
    const p = spawnNode([WEFT, ...cpArgs(tempDir('weft-cp-'))]);
    const m = await p.waitLine(/ready xds=\S+ admin=\S+ pid=(\d+)$/);
    expect(Number(m[1])).toBe(p.proc.pid);
    expect(await exitAfter(p.proc, signal)).toBe(0);
  });

  it('sidecar: the logged pid is the process; SIGTERM drains and exits 0', async () => {
    cp = await startControlPlane();
    const tokenFile = join(tempDir('weft-token-'), 'token');
    writeFileSync(tokenFile, await joinToken(cp, 'web'), { mode: 0o600 });
    const p = spawnNode([WEFT, 'sidecar', '--service', 'web', '--app-port', '1', '--control-plane', `127.0.0.1:${cp.xdsTlsPort}`, '--token-file', tokenFile, '--outbound-port', '0', '--inbound-port', '0', '--inbound-address', '127.0.0.1', '--admin-port', '0', '--drain-delay', '100ms'], { env: { WEFT_LOG_LEVEL: 'warn' } });
    const m = await p.waitLine(/^ready id=\S+ .* pid=(\d+)$/);
    expect(Number(m[1])).toBe(p.proc.pid);
    expect(await exitAfter(p.proc, 'SIGTERM')).toBe(0);
  });
});
