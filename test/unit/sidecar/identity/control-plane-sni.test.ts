// The proxy's gRPC channels to the control plane never send an IP literal as the TLS server name
// (RFC 6066 forbids it; Node warns, DEP0123): with an IP address they send CONTROL_PLANE_SNI, with
// a DNS name the name. A real TLS server records what SNI arrives.
import tls from 'node:tls';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { CONTROL_PLANE_SNI, controlPlaneChannel, controlPlaneServername } from '../../../../sidecar/identity/workload.js';
import { selfSignedCert } from '../../../harness/certs.js';

const cert = selfSignedCert(['localhost']);
const sockets = new Set<tls.TLSSocket>();
const servers: tls.Server[] = [];
afterAll(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

/** The SNI of the connection a control-plane channel to `host` makes, on a TLS server of its own. */
async function sniOf(host: string): Promise<string | false> {
  const seen: (string | false)[] = [];
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['h2'] }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  servers.push(server);
  server.on('tlsClientError', () => {});
  server.on('secureConnection', (s) => seen.push(s.servername ?? false));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = `${host}:${(server.address() as { port: number }).port}`;
  const channel = controlPlaneChannel(address, () => ({ ca: cert.certPem, checkServerIdentity: () => undefined }));
  // A call makes the channel connect; the server never answers it (the channel is closed after).
  const call = channel.call('/x.Y/Z', (m: Uint8Array) => m, (b: Buffer) => b, { onMessage: () => {}, onClose: () => {} }, 3000);
  const t0 = Date.now();
  while (!seen.length && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  call.cancel();
  channel.close();
  return seen[0] ?? false;
}

describe('control-plane channel SNI', () => {
  it('sends a DNS name, not the IP, when the address is an IP literal', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(w.code ?? w.message);
    process.on('warning', onWarning);
    expect(await sniOf('127.0.0.1')).toBe(CONTROL_PLANE_SNI);
    process.off('warning', onWarning);
    expect(warnings).not.toContain('DEP0123');
  });

  it('keeps a DNS name as it is', async () => {
    expect(controlPlaneServername('localhost:15010')).toBe('localhost');
    expect(await sniOf('localhost')).toBe('localhost');
  });

  it('reads bracketed IPv6 literals', () => {
    expect(controlPlaneServername('[::1]:15010')).toBe(CONTROL_PLANE_SNI);
  });
});
