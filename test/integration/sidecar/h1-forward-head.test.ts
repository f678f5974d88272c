// A response forwarded from an HTTP/1.1 upstream to an HTTP/1.1 client, in process (the sidecar's
// H1Connection, the real router, route table, cluster and pool; a raw TCP upstream the test
// drives): whatever of the response one read from the upstream brought reaches the client without
// waiting for the rest. The head is held back only to join the body and end of the same read
// (H1Downstream.writeHeadRaw, flushed on the pool's onReadEnd), so each case below sends a part,
// waits until the client has it, and only then sends the rest: a head held for a later read would
// never arrive and the case would fail at its deadline. Also a small response as one write.
import net from 'node:net';
import { create } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterSchema, Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { H1Connection, type H1Options } from '../../../sidecar/http/h1-server.js';
import { compose } from '../../../sidecar/http/filter.js';
import { serve } from '../../../sidecar/http/hcm.js';
import { router } from '../../../sidecar/http/router.js';
import { DEFAULT_PATH_OPTIONS } from '../../../sidecar/http/uri.js';
import { RouteTable } from '../../../sidecar/routing/route-table.js';
import { UpstreamCluster } from '../../../sidecar/upstream/cluster.js';
import { answeringHooks } from '../../harness/h1-hooks.js';
import { recordWrites } from '../../harness/socket-writes.js';

const OPTS: H1Options = { maxHeaderBytes: 16_384, headersTimeoutMs: 30_000, keepAliveTimeoutMs: 60_000 };
const closers: Array<() => void> = [];
/** What each upstream connection received since the test last looked; notified on each read. */
const upstreams = new Map<net.Socket, string>();
let upstreamRead: (() => void) | undefined;
let proxyPort = 0;
/** The client side of the proxy's accepted connections, to see how the proxy wrote. */
const proxyWrites: string[][] = [];

beforeAll(async () => {
  const up = net.createServer((s) => {
    s.on('error', () => undefined);
    upstreams.set(s, '');
    s.on('data', (d: Buffer) => {
      upstreams.set(s, upstreams.get(s)! + d.toString('latin1'));
      upstreamRead?.();
    });
    s.on('close', () => upstreams.delete(s));
  });
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
  const upPort = (up.address() as net.AddressInfo).port;
  const cluster = new UpstreamCluster(
    create(ClusterSchema, {
      name: 'up',
      clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.STATIC },
      connectTimeout: { nanos: 500_000_000 },
      loadAssignment: { clusterName: 'up', endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: upPort } } } } } } }] }] },
    }),
    false,
  );
  const rt = new RouteTable(create(RouteConfigurationSchema, {
    name: 'test',
    virtualHosts: [{ name: 'up', domains: ['*'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: 'up' } } } }] }],
  }));
  const c = { table: rt, paths: DEFAULT_PATH_OPTIONS, head: compose([], router({ cluster: (n) => (n === 'up' ? cluster : undefined), upgrades: new Set() }), { listener: 'test' }), byRoute: new Map() };
  const hooks = answeringHooks((d) => serve(d, () => c));
  const conns: H1Connection[] = [];
  const srv = net.createServer((s) => {
    proxyWrites.push(recordWrites(s));
    conns.push(new H1Connection(s, hooks, OPTS));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  proxyPort = (srv.address() as net.AddressInfo).port;
  closers.push(() => {
    for (const k of conns) k.socket.destroy();
    for (const s of upstreams.keys()) s.destroy();
    srv.close();
    up.close();
    cluster.close();
  });
}, 30_000);

afterAll(() => {
  for (const f of closers.splice(0)) f();
});

/** Resolves once `f()` holds, checked on each event of `on`; rejects after 5 s with what was seen. */
function until(what: string, seen: () => string, on: (cb: () => void) => void, f: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: not seen within 5 s; got ${JSON.stringify(seen())}`)), 5000);
    const check = () => {
      if (!f()) return;
      clearTimeout(t);
      resolve();
    };
    on(check);
    check();
  });
}

/** A client request through the proxy; `got()` is what it has received so far. */
async function request(): Promise<{ client: net.Socket; got: () => string; upstream: net.Socket; onData: (cb: () => void) => void }> {
  const client = net.connect(proxyPort, '127.0.0.1');
  client.on('error', () => undefined);
  closers.push(() => client.destroy());
  let got = '';
  const listeners: Array<() => void> = [];
  client.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    for (const l of listeners) l();
  });
  for (const k of upstreams.keys()) upstreams.set(k, '');
  client.write('GET /x HTTP/1.1\r\nhost: a\r\n\r\n');
  // The upstream connection (new or kept alive) that gets the request's whole head answers it.
  let upstream: net.Socket | undefined;
  const find = () => {
    for (const [k, v] of upstreams) if (v.includes('\r\n\r\n')) upstream = k;
    return upstream !== undefined;
  };
  await until('the request at the upstream', () => [...upstreams.values()].join('|'), (cb) => (upstreamRead = cb), find);
  upstreamRead = undefined;
  return { client, got: () => got, upstream: upstream!, onData: (cb) => listeners.push(cb) };
}

describe('a forwarded HTTP/1.1 response', () => {
  it.each([
    ['the head alone (content-length body later)', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n', 'hello', 'HTTP/1.1 200 OK\r\n'],
    ['the head and part of a content-length body', 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello', 'world', 'hello'],
    ['the head alone (chunked body later)', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n', 'transfer-encoding: chunked\r\n'],
    ['the head and a first chunk', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n', '6\r\nsecond\r\n0\r\n\r\n', '5\r\nfirst\r\n'],
  ])('%s: reaches the client before the upstream sends the rest', async (_name, first, rest, mark) => {
    const { got, upstream, onData, client } = await request();
    upstream.write(first);
    await until('the first part at the client', got, onData, () => got().includes(mark));
    expect(got()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    upstream.write(rest);
    const end = rest.endsWith('0\r\n\r\n') ? '0\r\n\r\n' : rest;
    await until('the whole response at the client', got, onData, () => got().endsWith(end));
    client.destroy();
  });

  it('is one write when the head and a small body come in one read', async () => {
    const { got, upstream, onData, client } = await request();
    const writes = proxyWrites[proxyWrites.length - 1]!;
    const before = writes.length;
    upstream.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 4\r\n\r\nbody');
    await until('the response at the client', got, onData, () => got().endsWith('\r\n\r\nbody'));
    expect(writes.slice(before)).toHaveLength(1);
    expect(writes[before]).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-type: text\/plain\r\ncontent-length: 4\r\ndate: .*\r\n\r\nbody$/);
    client.destroy();
  });
});
