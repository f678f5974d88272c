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
 * Dials `h`; `ready` is 'connect' for TCP and 'secureConnect' for TLS. `alpn` undefined: a TCP
 * service's connection (no ALPN offered; half-close allowed, as tcp_proxy carries FINs through).
 * The HTTP/1.1 pool's parser consumes the socket's handle (reads never become Buffers in JS).
 */
export function dial(h: Host, t: HostTls | undefined, alpn: 'h2' | 'http/1.1' | undefined): { socket: net.Socket; ready: 'connect' | 'secureConnect' } {
  const halfOpen = alpn === undefined;
  if (!t || !h.mesh) {
    const socket = net.connect({
      host: h.address,
      port: h.port,
      noDelay: true,
      allowHalfOpen: halfOpen,
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
  return { socket, ready: 'secureConnect' };
}
