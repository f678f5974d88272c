/**
 * Opening a connection to one upstream host: plain TCP, or mTLS for mesh hosts (the cluster's
 * transport socket says so, per host by its `tlsMode: weft` endpoint metadata). TLS uses the
 * sidecar's current client context (workload certificate + trust bundle), so a rotated
 * certificate is used by the next handshake, and accepts the peer only if it presents one of
 * the SPIFFE IDs the cluster names.
 */
import net from 'node:net';
import tls from 'node:tls';
import { spiffeVerifier, type MeshTls } from '../tls/mesh-tls.js';
import type { UpstreamTls } from '../xds/types/tls.js';
import type { Host } from './host.js';

export interface HostTls {
  mesh: MeshTls;
  config: UpstreamTls;
  verify: ReturnType<typeof spiffeVerifier>;
}

export function hostTls(mesh: MeshTls | undefined, config: UpstreamTls | undefined): HostTls | undefined {
  return mesh && config ? { mesh, config, verify: spiffeVerifier(config.sans) } : undefined;
}

/**
 * One read buffer for every plain upstream connection whose reader consumes each read before it
 * returns (the HTTP/1.1 pool: llhttp copies body bytes out and makes strings of headers): reads
 * land here instead of in a new ArrayBuffer per read, which at 16 KiB responses was half the
 * external memory the sidecar churned through (V8 ran a Mark-Compact every ~170 ms for it).
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Dials `h`; `ready` is 'connect' for TCP and 'secureConnect' for TLS. `alpn` undefined: a TCP
 * service's connection (no ALPN offered; half-close allowed, as tcp_proxy carries FINs through).
 * `onRead`: the socket's reader, for a caller that is done with each chunk when it returns (it is
 * a view of a shared buffer, overwritten by the next read); the socket then emits no 'data'.
 * pause() and resume() work as usual.
 */
export function dial(h: Host, t: HostTls | undefined, alpn: 'h2' | 'http/1.1' | undefined, onRead?: (chunk: Buffer) => void): { socket: net.Socket; ready: 'connect' | 'secureConnect' } {
  const halfOpen = alpn === undefined;
  if (!t || !h.mesh) {
    const socket = net.connect({
      host: h.address,
      port: h.port,
      noDelay: true,
      allowHalfOpen: halfOpen,
      ...(onRead
        ? {
            onread: {
              buffer: READ_BUFFER,
              callback: (n: number, buf: Uint8Array): boolean => {
                onRead((buf as Buffer).subarray(0, n));
                return true; // (the reader pauses the socket itself when its downstream is full)
              },
            },
          }
        : {}),
    });
    return { socket, ready: 'connect' };
  }
  const ctx = t.mesh.clientContext(t.config);
  if (!ctx) {
    // No workload certificate yet: fail like a refused connection, the retry policy handles it.
    const socket = new net.Socket();
    process.nextTick(() => socket.destroy(Object.assign(new Error('no workload certificate yet'), { code: 'ECONNREFUSED' })));
    return { socket, ready: 'connect' };
  }
  const socket = tls.connect({
    host: h.address,
    port: h.port,
    secureContext: ctx,
    servername: t.config.sni || undefined,
    ...(alpn ? { ALPNProtocols: [alpn] } : {}),
    allowHalfOpen: halfOpen,
    checkServerIdentity: t.verify,
    noDelay: true,
  } as tls.ConnectionOptions);
  if (onRead) socket.on('data', onRead); // TLS decrypts into its own buffers: a chunk is the reader's
  return { socket, ready: 'secureConnect' };
}
