/**
 * Why a control-plane address answered a TLS handshake with something that is not TLS (OpenSSL's
 * "wrong version number"): the usual mistake is --control-plane pointed at the control plane's
 * admin port (HTTP/1.1) or at its plaintext xDS port (h2c, for proxyless gRPC clients). One bounded
 * plain-TCP probe, made only after such a failure, tells which, and the message names the fix.
 */
import net from 'node:net';
import { hostPort } from './control-planes.js';

/** The control plane's xDS-over-TLS defaults, as `weft control-plane --help` and docs/ports.md state them. */
const XDS_FIX = 'sidecars and gateways connect to its xDS over TLS port: --xds-address of `weft control-plane` (default 127.0.0.1:15010), the xds=HOST:PORT of its ready line';

/** True when `e` (a socket error, or a gRPC error's text) is a TLS handshake that met a peer not speaking TLS. */
export function isNotTlsError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown; details?: unknown } | undefined;
  if (err?.code === 'ERR_SSL_WRONG_VERSION_NUMBER') return true;
  const text = `${typeof err?.message === 'string' ? err.message : ''} ${typeof err?.details === 'string' ? err.details : ''}`;
  return /wrong version number|packet length too long/i.test(text);
}

/** What the peer at `address` speaks instead of TLS: 'http1', 'h2c' or 'unknown' (bounded by `timeoutMs`). */
export function probePlaintext(address: string, timeoutMs = 2000): Promise<'http1' | 'h2c' | 'unknown'> {
  const hp = hostPort(address);
  if (!hp) return Promise.resolve('unknown');
  return new Promise((resolve) => {
    const s = net.connect(hp);
    let got = Buffer.alloc(0);
    const done = (r: 'http1' | 'h2c' | 'unknown') => {
      clearTimeout(t);
      s.destroy();
      resolve(r);
    };
    const t = setTimeout(() => done('unknown'), timeoutMs);
    s.on('error', () => done('unknown'));
    s.on('connect', () => s.write(`GET /healthz HTTP/1.1\r\nHost: ${hp.host}\r\nConnection: close\r\n\r\n`));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < 9) return;
      if (got.subarray(0, 7).toString('latin1') === 'HTTP/1.') return done('http1');
      // An HTTP/2 server's first frame: its SETTINGS (type 4), or GOAWAY (type 7) for a bad preface.
      return done(got[3] === 0x04 || got[3] === 0x07 ? 'h2c' : 'unknown');
    });
    s.on('end', () => done('unknown'));
  });
}

/** The message for a control-plane `address` that answered TLS with plaintext: the mistake and the fix. */
export async function notTlsMessage(address: string): Promise<string> {
  switch (await probePlaintext(address)) {
    case 'http1':
      return `the control plane address ${address} answered plain HTTP, not TLS: it looks like the control plane's admin port (--admin-address, default 127.0.0.1:15014); ${XDS_FIX}`;
    case 'h2c':
      return `the control plane address ${address} answered HTTP/2 without TLS: it looks like the control plane's plaintext xDS port (--xds-plaintext-address, for proxyless gRPC clients); ${XDS_FIX}`;
    default:
      return `the control plane address ${address} does not speak TLS (the TLS handshake got a non-TLS answer); ${XDS_FIX}`;
  }
}
