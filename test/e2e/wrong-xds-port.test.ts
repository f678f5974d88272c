// Regression (issue 23): a sidecar pointed with --control-plane at the control plane's admin port or
// at its plaintext xDS port printed OpenSSL's raw "wrong version number". It now names which port it
// reached and which one to use (the xDS over TLS port), for the first contact (the join token's
// pinned root), for a certificate request with --ca-file, and for a gateway.
import { once } from 'node:events';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinToken, spawnNode, startControlPlane, tempDir, WEFT, type ControlPlaneProc } from '../harness/processes.js';

let cp: ControlPlaneProc;
beforeAll(async () => {
  cp = await startControlPlane();
});
afterAll(async () => {
  await cp?.kill('SIGKILL');
});

/** Runs `weft sidecar|gateway` against `address` until it exits (bounded); returns its exit code and output. */
async function proxyAgainst(address: string, o: { mode?: 'sidecar' | 'gateway'; caFile?: boolean } = {}): Promise<{ code: number | null; output: string }> {
  const service = o.mode === 'gateway' ? 'public' : 'web';
  const tokenFile = join(tempDir('weft-token-'), 'token');
  writeFileSync(tokenFile, await joinToken(cp, service), { mode: 0o600 });
  const ca = o.caFile ? ['--ca-file', join(cp.dataDir, 'ca', readdirSync(join(cp.dataDir, 'ca')).find((f) => f.endsWith('.cert.pem'))!)] : [];
  const args =
    o.mode === 'gateway'
      ? [WEFT, 'gateway', '--gateway', 'default/public', '--admin-port', '0', '--listen-address', '127.0.0.1']
      : [WEFT, 'sidecar', '--service', service, '--app-port', '1', '--outbound-port', '0', '--inbound-port', '0', '--inbound-address', '127.0.0.1', '--admin-port', '0'];
  const p = spawnNode([...args, '--control-plane', address, '--token-file', tokenFile, ...ca], { env: { WEFT_LOG_LEVEL: 'warn' } });
  const exited = once(p.proc, 'exit');
  const bound = setTimeout(() => p.proc.kill('SIGKILL'), 30_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(bound);
  return { code, output: p.output() };
}

describe('a proxy pointed at a control-plane port that is not xDS over TLS', () => {
  it('the admin port: says it answered plain HTTP, looks like the admin port, and names --xds-address', async () => {
    const r = await proxyAgainst(`127.0.0.1:${cp.adminPort}`);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`127.0.0.1:${cp.adminPort} answered plain HTTP, not TLS: it looks like the control plane's admin port`);
    expect(r.output).toContain('--xds-address');
    expect(r.output).not.toMatch(/wrong version number|ssl3_get_record/);
  });

  it('the plaintext xDS port: says it answered HTTP/2 without TLS, the plaintext xDS port', async () => {
    const r = await proxyAgainst(`127.0.0.1:${cp.xdsPort}`);
    expect(r.code).toBe(1);
    expect(r.output).toContain(`127.0.0.1:${cp.xdsPort} answered HTTP/2 without TLS: it looks like the control plane's plaintext xDS port`);
    expect(r.output).not.toMatch(/wrong version number|ssl3_get_record/);
  });

  it('with --ca-file (the certificate request over gRPC): the same message', async () => {
    const r = await proxyAgainst(`127.0.0.1:${cp.adminPort}`, { caFile: true });
    expect(r.code).toBe(1);
    expect(r.output).toContain("answered plain HTTP, not TLS: it looks like the control plane's admin port");
    expect(r.output).not.toMatch(/wrong version number|ssl3_get_record/);
  });

  it('a gateway: the same message', async () => {
    const r = await proxyAgainst(`127.0.0.1:${cp.adminPort}`, { mode: 'gateway' });
    expect(r.code).toBe(1);
    expect(r.output).toContain("answered plain HTTP, not TLS: it looks like the control plane's admin port");
  });
});
