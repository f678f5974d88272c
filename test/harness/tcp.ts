/**
 * In-process layer-4 pieces for tests: Envoy Listener and Cluster protos built by hand, decoded by
 * the sidecar's own decoders into a TcpListener and UpstreamClusters, and small loopback servers
 * (echo, greeter, TLS) and a client that collects what it receives.
 */
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { EXTENSIONS, typedExtension } from '../../common/extensions.js';
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { TcpProxySchema } from '../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { decodeCluster } from '../../sidecar/xds/types/cluster.js';
import { decodeListener } from '../../sidecar/xds/types/listener.js';
import type { TcpListenerConfig } from '../../sidecar/xds/types/tcp-listener.js';
import { UpstreamCluster } from '../../sidecar/upstream/cluster.js';
import { TcpListener, type TcpListenerOptions } from '../../sidecar/tcp/tcp-listener.js';
import { TcpStats, type TcpConnectionRecord } from '../../sidecar/telemetry/tcp-stats.js';
import type { MeshTls } from '../../sidecar/tls/mesh-tls.js';

type ListenerInit = MessageInitShape<typeof ListenerSchema>;
type ClusterInit = MessageInitShape<typeof ClusterSchema>;

/** A tcp_proxy network filter; `cluster` is the cluster_specifier's `cluster` case. */
export const tcpProxy = ({ cluster, ...init }: Omit<MessageInitShape<typeof TcpProxySchema>, 'clusterSpecifier'> & { cluster: string }) =>
  typedExtension(EXTENSIONS.tcpProxy, { ...init, clusterSpecifier: { case: 'cluster', value: cluster } } as MessageInitShape<typeof TcpProxySchema>);

/** Decodes a Listener the way the sidecar does (throws with its errors if it is refused). */
export function tcpListenerConfig(init: ListenerInit): TcpListenerConfig {
  const d = decodeListener(toBinary(ListenerSchema, create(ListenerSchema, { name: 'l', ...init })));
  if (!d.value || d.value.kind !== 'tcp') throw new Error(`not a TCP listener: ${JSON.stringify(d.errors)}`);
  return d.value;
}

/** The errors the sidecar's decoder gives a Listener (field path: message). */
export function listenerErrors(init: ListenerInit): string[] {
  return decodeListener(toBinary(ListenerSchema, create(ListenerSchema, { name: 'l', ...init }))).errors.map((e) => `${e.path}: ${e.message}`);
}

/** A STATIC cluster over `ports` on 127.0.0.1 (mesh: endpoints tagged tlsMode weft, dialled with mTLS). */
export function staticCluster(name: string, ports: readonly number[], over: Partial<ClusterInit> = {}, mesh?: MeshTls): UpstreamCluster {
  const init = {
    name,
    clusterDiscoveryType: { case: 'type' as const, value: Cluster_DiscoveryType.STATIC },
    connectTimeout: { seconds: 1n },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    loadAssignment: {
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: ports.map((port) => ({
            hostIdentifier: { case: 'endpoint' as const, value: { address: { address: { case: 'socketAddress' as const, value: { address: '127.0.0.1', portSpecifier: { case: 'portValue' as const, value: port } } } } } },
            ...(mesh ? { metadata: { filterMetadata: { 'envoy.transport_socket_match': { tlsMode: 'weft' } } } } : {}),
          })),
        },
      ],
    },
    ...over,
  } as ClusterInit;
  const d = decodeCluster(toBinary(ClusterSchema, create(ClusterSchema, init)));
  if (!d.value) throw new Error(`cluster refused: ${JSON.stringify(d.errors)}`);
  return new UpstreamCluster(d.value.cluster, undefined, mesh);
}

export interface RunningTcpListener {
  listener: TcpListener;
  port: number;
  stats: TcpStats;
  records: TcpConnectionRecord[];
  close(): void;
}

/** A TcpListener on 127.0.0.1:0 serving `cfg` with these clusters. */
export async function startTcpListener(cfg: TcpListenerConfig, clusters: readonly UpstreamCluster[], o: Partial<TcpListenerOptions> = {}): Promise<RunningTcpListener> {
  const stats = new TcpStats();
  const records: TcpConnectionRecord[] = [];
  const byName = new Map(clusters.map((c) => [c.name, c]));
  const listener = new TcpListener({
    name: cfg.listener.name,
    host: '127.0.0.1',
    port: 0,
    direction: 'outbound',
    source: { current: () => cfg },
    deps: { cluster: (n) => byName.get(n), stats, onConnection: (r) => records.push(r) },
    ...o,
  });
  const { port } = await listener.listen();
  return { listener, port, stats, records, close: () => (listener.close(), clusters.forEach((c) => c.close())) };
}

/** A TCP server on 127.0.0.1:0; `onConn` serves each connection. */
export async function tcpServer(onConn: (s: net.Socket) => void, opts: net.ServerOpts = {}): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket>; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer(opts, (s) => {
    s.on('error', () => undefined);
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, sockets, close: () => (server.close(), sockets.forEach((s) => s.destroy())) };
}

/** An echo server (half-close aware: ends when the client ends). */
export const echoServer = () => tcpServer((s) => s.pipe(s), { allowHalfOpen: true });

/** A server-first one: greets at once, then answers each line `HELO x` with `250 hello x`. */
export const greeterServer = () =>
  tcpServer((s) => {
    s.write('220 greeter ready\r\n');
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (line.startsWith('HELO ')) s.write(`250 hello ${line.slice(5)}\r\n`);
        else if (line === 'QUIT') s.end('221 bye\r\n');
      }
    });
  });

/** A TLS server with its own certificate (the backend of a passthrough route); answers `hello from <name>`. */
export async function tlsBackend(name: string, cert: { certPem: string; keyPem: string }): Promise<{ port: number; close(): void }> {
  const server = tls.createServer({ key: cert.keyPem, cert: cert.certPem }, (s) => {
    s.on('error', () => undefined);
    s.end(`hello from ${name} (sni ${s.servername || 'none'})`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

export interface Collected {
  data: string;
  /** How the connection ended: 'end' (FIN), 'reset' / an error code, or 'timeout' (the helper's own bound). */
  how: string;
}

/**
 * Connects to `port`, writes `send` (then half-closes when `end`), and collects what arrives until
 * the connection ends or `untilText` has arrived (then it closes). Bounded by `timeoutMs`.
 */
export function talk(port: number, o: { send?: string; end?: boolean; untilText?: string; timeoutMs?: number; localAddress?: string } = {}): Promise<Collected> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    let data = '';
    let done = false;
    const finish = (how: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data, how });
    };
    const timer = setTimeout(() => finish('timeout'), o.timeoutMs ?? 5000);
    s.setEncoding('utf8');
    s.on('connect', () => {
      if (o.send) s.write(o.send);
      if (o.end) s.end();
    });
    s.on('data', (d: string) => {
      data += d;
      if (o.untilText && data.includes(o.untilText)) finish('text');
    });
    s.on('end', () => finish('end'));
    s.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    s.on('close', () => finish('close'));
  });
}

/** Resolves when `f()` holds (polled every 10 ms), rejects after `ms`. */
export async function until(f: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
