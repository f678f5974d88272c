// tcp_proxy in process, over loopback sockets: the sidecar's TcpListener with clusters decoded from
// Envoy protos, in front of real echo / server-first / TLS servers. Bytes both ways, half-close,
// server-first greetings, connect retries past a dead host, least connections, ring hash on the
// source address, max_connections, idle timeout, network RBAC, TLS passthrough by SNI, draining,
// and the mesh inbound (mTLS with a real CA) that dials its app before answering the handshake.
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster_LbPolicy } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { SubjectAltNameMatcher_SanType } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import { RBAC_Action } from '../../../proto/gen/envoy/config/rbac/v3/rbac_pb.js';
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import { CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { createCsr, generateKey } from '../../../sidecar/identity/csr.js';
import { MeshTls } from '../../../sidecar/tls/mesh-tls.js';
import { selfSignedCert, cleanupCerts } from '../../harness/certs.js';
import { tempDir } from '../../harness/processes.js';
import { echoServer, greeterServer, startTcpListener, staticCluster, talk, tcpListenerConfig, tcpProxy, tcpServer, tlsBackend, until } from '../../harness/tcp.js';

const chain = (proxy: Parameters<typeof tcpProxy>[0], before: ReturnType<typeof typedExtension>[] = []) => ({ filterChains: [{ filters: [...before, tcpProxy(proxy)] }] });
const deadPort = async (): Promise<number> => {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
};

afterAll(() => cleanupCerts());

describe('tcp_proxy (plaintext chain)', () => {
  it('carries bytes both ways, passes a half-close on, and counts the connection per cluster', async () => {
    const echo = await echoServer();
    const l = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'echo' })), [staticCluster('echo', [echo.port])]);
    try {
      // The client half-closes after its request; the echo ends after answering: both FINs pass.
      const r = await talk(l.port, { send: 'ping over tcp', end: true });
      expect(r).toEqual({ data: 'ping over tcp', how: 'end' });
      await until(() => l.records.length === 1, 5000, 'the access record');
      const s = l.stats.of('echo');
      expect({ opened: s.opened, active: s.active, closed: s.closed, sent: s.sentBytes, received: s.receivedBytes, count: s.count }).toEqual({ opened: 1, active: 0, closed: 1, sent: 13, received: 13, count: 1 });
      expect(l.records[0]).toMatchObject({ cluster: 'echo', bytesReceived: 13, bytesSent: 13, flags: '', connectAttempts: 1, upstreamHost: `127.0.0.1:${echo.port}` });
    } finally {
      l.close();
      echo.close();
    }
  });

  it('connects upstream before the client speaks: a server-first greeting arrives at once', async () => {
    const g = await greeterServer();
    const l = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'g' })), [staticCluster('g', [g.port])]);
    try {
      expect(await talk(l.port, { untilText: 'ready' })).toEqual({ data: '220 greeter ready\r\n', how: 'text' });
      expect((await talk(l.port, { send: 'HELO weft\r\nQUIT\r\n' })).data).toBe('220 greeter ready\r\n250 hello weft\r\n221 bye\r\n');
    } finally {
      l.close();
      g.close();
    }
  });

  it('tries another host when one refuses (max_connect_attempts), and resets the client when none is left', async () => {
    const echo = await echoServer();
    const dead = await deadPort();
    const cluster = staticCluster('c', [dead, echo.port], { lbPolicy: Cluster_LbPolicy.ROUND_ROBIN });
    const l = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'c', maxConnectAttempts: 2 })), [cluster]);
    const only = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l2', cluster: 'd' })), [staticCluster('d', [dead])]);
    try {
      for (let i = 0; i < 4; i++) expect(await talk(l.port, { send: `x${i}`, end: true })).toEqual({ data: `x${i}`, how: 'end' });
      expect(cluster.stats.cxConnectFail).toBeGreaterThan(0);
      const r = await talk(only.port, { send: 'x' });
      expect(r.data).toBe('');
      expect(['ECONNRESET', 'end', 'close']).toContain(r.how);
      await until(() => only.records.length === 1, 5000, 'the failure record');
      expect(only.records[0]).toMatchObject({ cluster: 'd', flags: 'UF', connectAttempts: 1 });
    } finally {
      l.close();
      only.close();
      echo.close();
    }
  });

  it('least connections spreads open connections evenly; ring hash on the source address keeps one host', async () => {
    const servers = await Promise.all([0, 1, 2].map(() => tcpServer(() => undefined)));
    const ports = servers.map((s) => s.port);
    const lc = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'lc', cluster: 'lc' })), [staticCluster('lc', ports, { lbPolicy: Cluster_LbPolicy.LEAST_REQUEST, lbConfig: { case: 'leastRequestLbConfig', value: { choiceCount: 100 } } })]);
    const rh = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'rh', cluster: 'rh', hashPolicy: [{ policySpecifier: { case: 'sourceIp', value: {} } }] })), [staticCluster('rh', ports, { lbPolicy: Cluster_LbPolicy.RING_HASH })]);
    const clients: net.Socket[] = [];
    try {
      for (let i = 0; i < 9; i++) {
        clients.push(net.connect(lc.port, '127.0.0.1').on('error', () => undefined));
        // One at a time: each pick sees the connections already open.
        await until(() => servers.reduce((n, s) => n + s.sockets.size, 0) === i + 1, 5000, `connection ${i + 1}`);
      }
      expect(servers.map((s) => s.sockets.size)).toEqual([3, 3, 3]);
      for (const c of clients.splice(0)) c.destroy();
      await until(() => servers.every((s) => s.sockets.size === 0), 5000, 'the connections to close');
      for (let i = 0; i < 6; i++) {
        clients.push(net.connect(rh.port, '127.0.0.1').on('error', () => undefined));
        await until(() => servers.reduce((n, s) => n + s.sockets.size, 0) === i + 1, 5000, `hashed connection ${i + 1}`);
      }
      // Every connection comes from 127.0.0.1: one host takes them all.
      expect(servers.map((s) => s.sockets.size).sort()).toEqual([0, 0, 6]);
    } finally {
      for (const c of clients) c.destroy();
      lc.close();
      rh.close();
      for (const s of servers) s.close();
    }
  });

  it('max_connections refuses a connection past the limit (UO); idle_timeout closes a silent one (IT)', async () => {
    const hold = await tcpServer(() => undefined);
    const l = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'h', idleTimeout: { nanos: 300_000_000 } })), [staticCluster('h', [hold.port], { circuitBreakers: { thresholds: [{ maxConnections: 1 }] } })]);
    try {
      const first = talk(l.port, { timeoutMs: 5000 });
      await until(() => hold.sockets.size === 1, 5000, 'the first connection');
      const second = await talk(l.port, { send: 'x', timeoutMs: 5000 });
      expect(second.how).not.toBe('timeout');
      await until(() => l.records.some((r) => r.flags === 'UO'), 5000, 'the overflow record');
      // The first connection sends nothing: the idle timeout closes it (the helper would time out at 5 s).
      expect((await first).how).not.toBe('timeout');
      await until(() => l.records.some((r) => r.flags === 'IT'), 5000, 'the idle record');
      expect(l.stats.of('h').overflow).toBe(1);
    } finally {
      l.close();
      hold.close();
    }
  });

  it('network RBAC closes a denied connection before dialling and names the rule; an allowed one goes through', async () => {
    const echo = await echoServer();
    const rbac = (action: RBAC_Action) =>
      typedExtension(EXTENSIONS.networkRbac, {
        statPrefix: 'inbound',
        rules: { action, policies: { 'default/no-plain/rules[0]': { permissions: [{ rule: { case: 'any', value: true } }], principals: [{ identifier: { case: 'notId', value: { identifier: { case: 'authenticated', value: {} } } } }] } } },
      });
    const deny = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'e' }, [rbac(RBAC_Action.DENY)])), [staticCluster('e', [echo.port])]);
    const allow = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'e' }, [rbac(RBAC_Action.ALLOW)])), [staticCluster('e', [echo.port])]);
    try {
      const r = await talk(deny.port, { send: 'hi', end: true });
      expect(r.data).toBe('');
      await until(() => deny.records.length === 1, 5000, 'the denial record');
      expect(deny.records[0]).toMatchObject({ flags: 'RBAC', rbac: 'default/no-plain/rules[0]' });
      expect(deny.listener.rbacDenied).toBe(1);
      expect(deny.stats.of('e').opened).toBe(0);
      // The ALLOW filter's one policy matches the unauthenticated peer: allowed.
      expect(await talk(allow.port, { send: 'hi', end: true })).toEqual({ data: 'hi', how: 'end' });
    } finally {
      deny.close();
      allow.close();
      echo.close();
    }
  });

  it('drain waits for open connections up to the timeout, then closes them', async () => {
    const hold = await tcpServer(() => undefined);
    const l = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'h' })), [staticCluster('h', [hold.port])]);
    try {
      const c = talk(l.port, { timeoutMs: 10_000 });
      await until(() => hold.sockets.size === 1, 5000, 'the connection');
      const t0 = Date.now();
      expect(await l.listener.drain(300)).toBe(1);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      expect((await c).how).not.toBe('timeout');
      // After draining nothing new is accepted.
      const again = await talk(l.port, { timeoutMs: 2000 });
      expect(again.how).not.toBe('timeout');
      expect(again.data).toBe('');
    } finally {
      l.close();
      hold.close();
    }
  });

  it('drain returns as soon as the last connection ends', async () => {
    const echo = await echoServer();
    const l = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'l', cluster: 'e' })), [staticCluster('e', [echo.port])]);
    try {
      const s = net.connect(l.port, '127.0.0.1').on('error', () => undefined);
      await until(() => echo.sockets.size === 1, 5000, 'the connection');
      const draining = l.listener.drain(20_000);
      s.end();
      expect(await draining).toBe(0);
    } finally {
      l.close();
      echo.close();
    }
  });
});

describe('TLS passthrough (tls_inspector + server_names)', () => {
  it('routes by SNI (exact, then wildcard, then the default chain) and never terminates: the client verifies the backend', async () => {
    const a = selfSignedCert(['a.example']);
    const b = selfSignedCert(['x.b.example']);
    const d = selfSignedCert(['other.example']);
    const [ba, bb, bd] = await Promise.all([tlsBackend('a', a), tlsBackend('b', b), tlsBackend('default', d)]);
    const cfg = tcpListenerConfig({
      listenerFilters: [typedExtension(EXTENSIONS.tlsInspector, {})],
      filterChains: [
        { filterChainMatch: { serverNames: ['a.example'], transportProtocol: 'tls' }, filters: [tcpProxy({ statPrefix: 'p', cluster: 'a' })] },
        { filterChainMatch: { serverNames: ['*.b.example'], transportProtocol: 'tls' }, filters: [tcpProxy({ statPrefix: 'p', cluster: 'b' })] },
        { filterChainMatch: { transportProtocol: 'tls' }, filters: [tcpProxy({ statPrefix: 'p', cluster: 'd' })] },
      ],
    });
    const l = await startTcpListener(cfg, [staticCluster('a', [ba.port]), staticCluster('b', [bb.port]), staticCluster('d', [bd.port])]);
    const get = (servername: string, ca: string) =>
      new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port: l.port, host: '127.0.0.1', servername, ca }, () => undefined);
        let out = '';
        s.setEncoding('utf8');
        s.on('data', (x: string) => (out += x));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
    try {
      expect(await get('a.example', a.certPem)).toBe('hello from a (sni a.example)');
      expect(await get('x.b.example', b.certPem)).toBe('hello from b (sni x.b.example)');
      expect(await get('other.example', d.certPem)).toBe('hello from default (sni other.example)');
      // The backend's own certificate reached the client: verification against another CA fails.
      await expect(get('a.example', b.certPem)).rejects.toThrow();
      // Plaintext on a passthrough port is refused.
      expect((await talk(l.port, { send: 'GET / HTTP/1.1\r\n\r\n' })).data).toBe('');
      await until(() => l.records.filter((r) => r.serverName).length >= 3, 5000, 'the records');
      expect(l.records.filter((r) => r.serverName).map((r) => [r.serverName, r.cluster])).toEqual(expect.arrayContaining([['a.example', 'a'], ['x.b.example', 'b'], ['other.example', 'd']]));
    } finally {
      l.close();
      for (const x of [ba, bb, bd]) x.close();
    }
  });

  it('closes a connection whose SNI matches no chain when there is no default (NR)', async () => {
    const a = selfSignedCert(['a.example']);
    const ba = await tlsBackend('a', a);
    const cfg = tcpListenerConfig({
      listenerFilters: [typedExtension(EXTENSIONS.tlsInspector, {})],
      filterChains: [{ filterChainMatch: { serverNames: ['a.example'] }, filters: [tcpProxy({ statPrefix: 'p', cluster: 'a' })] }],
    });
    const l = await startTcpListener(cfg, [staticCluster('a', [ba.port])]);
    try {
      const err = await new Promise<string>((resolve) => {
        const s = tls.connect({ port: l.port, host: '127.0.0.1', servername: 'nope.example', ca: a.certPem });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
        s.on('secureConnect', () => resolve('connected'));
      });
      expect(err).not.toBe('connected');
      await until(() => l.records.length === 1, 5000, 'the record');
      expect(l.records[0]).toMatchObject({ flags: 'NR', serverName: 'nope.example' });
    } finally {
      l.close();
      ba.close();
    }
  });
});

describe('mesh inbound of a TCP app (mTLS)', () => {
  const TD = 'cluster.local';
  const id = (s: string) => `spiffe://${TD}/ns/default/sa/${s}`;
  let ca: CertificateAuthority;
  const meshOf = async (service: string): Promise<MeshTls> => {
    const key = generateKey();
    const issued = await ca.signCsr(createCsr(key, id(service)), { trustDomain: TD, namespace: 'default', service }, 600_000);
    const leaf = new X509Certificate(issued.chainPem[0]!);
    const m = new MeshTls();
    m.setBundle(ca.trustBundlePem());
    m.setIdentity({ keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string, chainPem: issued.chainPem, spiffeId: id(service), notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber, receivedAt: new Date() });
    return m;
  };
  const mtlsSocket = (sans: string[], alpn: string[] = []) =>
    typedExtension(EXTENSIONS.upstreamTls, {
      sni: 'outbound_.6379_._.redis.default.svc.cluster.local',
      commonTlsContext: {
        alpnProtocols: alpn,
        tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } }],
        validationContextType: {
          case: 'combinedValidationContext',
          value: {
            defaultValidationContext: { matchTypedSubjectAltNames: sans.map((s) => ({ sanType: SubjectAltNameMatcher_SanType.URI, matcher: { matchPattern: { case: 'exact' as const, value: s } } })) },
            validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
          },
        },
      },
    });
  const inboundTls = typedExtension(EXTENSIONS.downstreamTls, {
    requireClientCertificate: true,
    commonTlsContext: {
      tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } }],
      validationContextType: { case: 'validationContextSdsSecretConfig', value: { name: 'ROOTCA', sdsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } } },
    },
  });

  beforeAll(async () => {
    ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
  });

  async function pair(appPort: number, rbac: ReturnType<typeof typedExtension>[] = [], permissive = false) {
    const server = await meshOf('redis');
    const client = await meshOf('web');
    const filters = [...rbac, tcpProxy({ statPrefix: 'inbound', cluster: 'app' })];
    const inbound = await startTcpListener(
      tcpListenerConfig({ filterChains: [{ filterChainMatch: { transportProtocol: 'tls' }, filters, transportSocket: inboundTls }, ...(permissive ? [{ filterChainMatch: { transportProtocol: 'raw_buffer' }, filters }] : [])] }),
      [staticCluster('app', [appPort])],
      { mesh: server, direction: 'inbound' },
    );
    const cluster = staticCluster('redis', [inbound.port], { transportSocketMatches: [{ name: 'tlsMode-weft', match: { tlsMode: 'weft' }, transportSocket: mtlsSocket([id('redis')]) }] }, client);
    const outbound = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'out', cluster: 'redis' })), [cluster]);
    return { inbound, outbound, cluster, close: () => (inbound.close(), outbound.close()) };
  }

  it('carries a server-first protocol through two proxies over mTLS, the app seeing plain bytes', async () => {
    const g = await greeterServer();
    const p = await pair(g.port);
    try {
      expect((await talk(p.outbound.port, { send: 'HELO mesh\r\nQUIT\r\n' })).data).toBe('220 greeter ready\r\n250 hello mesh\r\n221 bye\r\n');
      await until(() => p.inbound.records.length === 1, 5000, 'the inbound record');
      expect(p.inbound.records[0]!.principal).toBe(id('web'));
    } finally {
      p.close();
      g.close();
    }
  });

  it('an app that is down fails the caller\'s connect (the handshake is never answered), counted as a connect failure', async () => {
    const dead = await deadPort();
    const p = await pair(dead);
    try {
      const r = await talk(p.outbound.port, { send: 'x' });
      expect(r.data).toBe('');
      await until(() => p.outbound.records.length === 1, 5000, 'the outbound record');
      expect(p.outbound.records[0]).toMatchObject({ flags: 'UF', cluster: 'redis' });
      expect(p.cluster.stats.cxConnectFail).toBe(1);
    } finally {
      p.close();
    }
  });

  it('network RBAC on the SPIFFE ID: a DENY rule for web closes its connection after the handshake, logged with the rule', async () => {
    const echo = await echoServer();
    const deny = typedExtension(EXTENSIONS.networkRbac, {
      statPrefix: 'inbound',
      rules: { action: RBAC_Action.DENY, policies: { 'default/no-web/rules[0]': { permissions: [{ rule: { case: 'any', value: true } }], principals: [{ identifier: { case: 'authenticated', value: { principalName: { matchPattern: { case: 'exact', value: id('web') } } } } }] } } },
    });
    const p = await pair(echo.port, [deny]);
    try {
      expect((await talk(p.outbound.port, { send: 'hi', end: true })).data).toBe('');
      await until(() => p.inbound.records.some((r) => r.flags === 'RBAC'), 5000, 'the denial');
      expect(p.inbound.records.find((r) => r.flags === 'RBAC')).toMatchObject({ rbac: 'default/no-web/rules[0]', principal: id('web') });
    } finally {
      p.close();
      echo.close();
    }
  });

  it('refuses a plaintext client in STRICT mode (only a TLS chain)', async () => {
    const echo = await echoServer();
    const p = await pair(echo.port);
    try {
      const r = await talk(p.inbound.port, { send: 'plain\r\n', timeoutMs: 12_000 });
      expect(r.data).toBe('');
      expect(r.how).not.toBe('timeout');
    } finally {
      p.close();
      echo.close();
    }
  });

  it('PERMISSIVE: a client that leaves before its first byte gives the app connection back (a port probe)', async () => {
    const hold = await tcpServer(() => undefined);
    const p = await pair(hold.port, [], true);
    try {
      const s = net.connect(p.inbound.port, '127.0.0.1').on('error', () => undefined);
      // The inbound dials the app first, then waits (1 s) for the client's first byte.
      await until(() => hold.sockets.size === 1, 5000, 'the app connection');
      s.resetAndDestroy();
      await until(() => hold.sockets.size === 0 && p.inbound.stats.of('app').active === 0, 5000, 'the app connection to be given back');
      expect(p.inbound.stats.of('app').closed).toBe(1);
      // A plaintext client that speaks is carried (PERMISSIVE), and a mesh caller too.
      const echo = await echoServer();
      const q = await pair(echo.port, [], true);
      try {
        expect(await talk(q.inbound.port, { send: 'plain', end: true })).toEqual({ data: 'plain', how: 'end' });
        expect(await talk(q.outbound.port, { send: 'mtls', end: true })).toEqual({ data: 'mtls', how: 'end' });
      } finally {
        q.close();
        echo.close();
      }
    } finally {
      p.close();
      hold.close();
    }
  });

  it('a caller that leaves while its connect is still in progress frees the slot at once, counting no connect failure', async () => {
    // A "sidecar" that accepts TCP, reads, and never answers the TLS handshake.
    const silent = await tcpServer((x) => x.resume());
    const client = await meshOf('web');
    const cluster = staticCluster('slow', [silent.port], { connectTimeout: { seconds: 5n }, transportSocketMatches: [{ name: 'tlsMode-weft', match: { tlsMode: 'weft' }, transportSocket: mtlsSocket([id('redis')]) }] }, client);
    const out = await startTcpListener(tcpListenerConfig(chain({ statPrefix: 'out', cluster: 'slow' })), [cluster]);
    try {
      const s = net.connect(out.port, '127.0.0.1').on('error', () => undefined);
      await until(() => silent.sockets.size === 1 && out.stats.of('slow').active === 1, 5000, 'the connect in progress');
      const t0 = Date.now();
      // A reset: the caller is gone. (A FIN is a half-close, carried on once connected.)
      s.resetAndDestroy();
      await until(() => out.stats.of('slow').active === 0 && silent.sockets.size === 0, 4000, 'the slot to be freed').catch((e) => { throw new Error(`${(e as Error).message}: active ${out.stats.of('slow').active}, upstream sockets ${silent.sockets.size}, listener cx ${out.listener.stats.cxActive}`); });
      // Well before the 5 s connect timeout, and not a failure of the host.
      expect(Date.now() - t0).toBeLessThan(4000);
      expect(cluster.stats.cxConnectFail).toBe(0);
      expect(cluster.hosts[0]!.active).toBe(0);
    } finally {
      out.close();
      silent.close();
    }
  });
});
