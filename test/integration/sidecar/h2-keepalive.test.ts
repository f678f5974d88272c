/**
 * HTTP/2 keepalive PINGs toward upstreams (Envoy's Http2ProtocolOptions.connection_keepalive):
 * the sidecar's h2 client (sidecar/h2/client.ts) against a raw loopback peer that answers PINGs,
 * ignores them, or streams DATA while ignoring them; and a cluster built from a Cluster resource
 * (sidecar/upstream/cluster.ts) whose sessions carry the settings.
 */
import net from 'node:net';
import { fromJson, type JsonObject } from '@bufbuild/protobuf';
import { afterEach, describe, expect, it } from 'vitest';
import { block, fr, readFrames, SETTINGS } from '../../harness/h2-frames.js';
import { H2ClientSession, type H2Keepalive } from '../../../sidecar/h2/client.js';
import { ClusterSchema } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { xdsTypeRegistry } from '../../../control-plane/xds/type-registry.js';
import { UpstreamCluster } from '../../../sidecar/upstream/cluster.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

interface Peer {
  port: number;
  /** performance.now() of each PING the client sent. */
  pings: number[];
  /** The client's port (the peer socket's remotePort) of each PING. */
  pingFrom: number[];
  /** Sockets the peer accepted. */
  sockets: net.Socket[];
}

/**
 * A peer that speaks just enough HTTP/2: SETTINGS and its ACK, then `ack` decides whether PINGs are
 * answered; with `dataEveryMs`, once the client opens a stream it answers a head and then a DATA
 * frame every so often (frames that are not the PING's ACK).
 */
async function peer(o: { ack: boolean; dataEveryMs?: number; dataFor?: number }): Promise<Peer> {
  const p: Peer = { port: 0, pings: [], pingFrom: [], sockets: [] };
  const server = net.createServer((sock) => {
    p.sockets.push(sock);
    sock.on('error', () => undefined);
    sock.write(SETTINGS);
    readFrames(sock, ({ type, flags, id, payload }) => {
      if (type === 4 && !(flags & 1)) sock.write(fr(4, 1, 0));
      if (type === 6 && !(flags & 1)) {
        p.pings.push(performance.now());
        p.pingFrom.push(sock.remotePort!);
        if (o.ack) sock.write(fr(6, 1, 0, Buffer.from(payload)));
      }
      if (type === 1 && o.dataEveryMs) {
        sock.write(fr(1, 4, id, block([':status', '200'])));
        const t = setInterval(() => {
          if (!sock.destroyed) sock.write(fr(0, 0, id, Buffer.from('tick')));
        }, o.dataEveryMs);
        setTimeout(() => clearInterval(t), o.dataFor ?? 0);
        cleanup.push(() => clearInterval(t));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => {
    for (const s of p.sockets) s.destroy();
    server.close();
  });
  p.port = (server.address() as net.AddressInfo).port;
  return p;
}

function session(port: number, keepalive: H2Keepalive): H2ClientSession {
  const socket = net.connect({ host: '127.0.0.1', port });
  const s = new H2ClientSession(socket, 'connect', { connectTimeoutMs: 2000, idleTimeoutMs: 60_000, keepalive });
  cleanup.push(() => socket.destroy());
  return s;
}

const closed = (s: H2ClientSession): Promise<number> => new Promise((r) => s.socket.once('close', () => r(performance.now())));
const until = async (f: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  expect(f()).toBe(true);
};

describe('h2 keepalive PINGs', () => {
  it('a peer that answers keeps the connection: PINGs keep coming and it stays usable', async () => {
    const p = await peer({ ack: true });
    const s = session(p.port, { intervalMs: 40, timeoutMs: 40 });
    await until(() => p.pings.length >= 5);
    expect(s.usable).toBe(true);
    expect(p.sockets[0]!.destroyed).toBe(false);
  });

  it('a peer that never answers loses the connection about interval + timeout after connecting, and its call fails as a reset', async () => {
    const p = await peer({ ack: false });
    const t0 = performance.now();
    const s = session(p.port, { intervalMs: 60, timeoutMs: 80 });
    const failed = new Promise<{ kind: string; message: string }>((resolve) =>
      s.request([':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/'], true, {
        onHead: () => undefined,
        onData: () => true,
        onEnd: () => undefined,
        onFailure: (kind, err) => resolve({ kind, message: err.message }),
        onDrain: () => undefined,
      }),
    );
    const at = await closed(s);
    expect(at - t0).toBeGreaterThanOrEqual(60 + 80 - 5);
    expect(p.pings.length).toBe(1); // one PING outstanding at a time
    const f = await failed;
    expect(f.kind).toBe('reset');
    expect(f.message).toMatch(/keepalive: no PING ACK within 80 ms/);
    expect(s.usable).toBe(false);
  });

  it('frames received meanwhile extend the wait; once they stop, the unanswered PING ends the connection', async () => {
    const p = await peer({ ack: false, dataEveryMs: 20, dataFor: 400 });
    const s = session(p.port, { intervalMs: 30, timeoutMs: 60 });
    const t0 = performance.now();
    s.request([':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', '/'], true, { onHead: () => undefined, onData: () => true, onEnd: () => undefined, onFailure: () => undefined, onDrain: () => undefined });
    const at = await closed(s);
    // Without the extension it would close at ~90 ms; DATA keeps coming for 400 ms.
    expect(at - t0).toBeGreaterThanOrEqual(400);
    expect(p.pings.length).toBe(1);
  });

  it('jitter adds up to jitterPercent of the interval to each one, at random', async () => {
    const p = await peer({ ack: true });
    session(p.port, { intervalMs: 30, timeoutMs: 1000, jitterPercent: 100 });
    await until(() => p.pings.length >= 12);
    const gaps = p.pings.slice(1).map((t, i) => t - p.pings[i]!);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(30 - 3);
    // Uniform in [30, 60] ms: eleven gaps all within 3 ms of each other would be a fixed interval.
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(3);
  });
});

describe('a cluster with Http2ProtocolOptions.connection_keepalive', () => {
  const cluster = (port: number, http2: JsonObject): UpstreamCluster =>
    new UpstreamCluster(
      fromJson(
        ClusterSchema,
        {
          name: 'ka',
          type: 'STATIC',
          typedExtensionProtocolOptions: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicitHttpConfig: { http2ProtocolOptions: http2 } } },
          loadAssignment: { clusterName: 'ka', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: port } } } }] }] },
        },
        { registry: xdsTypeRegistry },
      ),
    );

  it('its h2 sessions send PINGs and close when they go unanswered', async () => {
    const p = await peer({ ack: false });
    const c = cluster(p.port, { connectionKeepalive: { interval: '0.05s', timeout: '0.05s' } });
    expect(c.http2).toBe(true);
    const s = c.h2(c.hosts[0]!).session();
    cleanup.push(() => c.close());
    await until(() => s.socket.destroyed);
    expect(p.pings.length).toBe(1);
  });

  it('without connection_keepalive (or with interval 0) it sends none', async () => {
    const p = await peer({ ack: true });
    const plain = cluster(p.port, {});
    const zero = cluster(p.port, { connectionKeepalive: { interval: '0s', timeout: '1s' } });
    cleanup.push(() => (plain.close(), zero.close()));
    plain.h2(plain.hosts[0]!).session();
    zero.h2(zero.hosts[0]!).session();
    // A third cluster that does send them, on the same peer at the same time: by the time it has
    // sent three, every PING came from its connection and none from the other two.
    const ka = cluster(p.port, { connectionKeepalive: { interval: '0.05s', timeout: '1s' } });
    cleanup.push(() => ka.close());
    const s = ka.h2(ka.hosts[0]!).session();
    await until(() => p.sockets.length === 3 && p.pings.length >= 3);
    expect(new Set(p.pingFrom)).toEqual(new Set([s.socket.localPort]));
  });
});
