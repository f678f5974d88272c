// The gateway at layer 4 (issue 21 item 4), real processes and Debian clients: a TLSRoute passes
// TLS through by SNI to an HTTPS backend (openssl s_server behind its sidecar, reached over mesh
// mTLS) and curl --resolve verifies the BACKEND's own certificate through the gateway, which holds
// no key for it; a TCPRoute carries redis-cli to Redis behind its sidecar. An SNI no route names
// is closed; the gateway counts the connections per cluster (/metrics) and writes one access-log
// line per connection with the SNI it routed by.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupCerts, selfSignedCert, type TestCert } from '../harness/certs.js';
import { redisPing, startRedis, type L4Server } from '../harness/l4-servers.js';
import { eventually, figure, freePort, startControlPlane, startGateway, startSidecar, tempDir, waitForHosts, weftApply, type ControlPlaneProc, type GatewayProc, type SidecarProc } from '../harness/processes.js';

const run = promisify(execFile);

/**
 * One HTTPS request over TLS to 127.0.0.1:port with the given SNI, verified against ca, read to
 * the end and closed by this side; gives the connection's source port (its access-log key).
 */
function tlsExchange(port: number, servername: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, ca: readFileSync(ca), ALPNProtocols: ['http/1.1'] });
    const t = setTimeout(() => s.destroy(new Error('no answer in 10 s')), 10_000);
    let got = '';
    s.on('error', (e) => (clearTimeout(t), reject(e)));
    s.on('secureConnect', () => s.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`));
    s.on('data', (b: Buffer) => (got += b.toString('latin1')));
    s.on('end', () => {
      clearTimeout(t);
      const local = s.localPort ?? 0;
      s.end();
      if (got.startsWith('HTTP/1.')) resolve(local);
      else reject(new Error(`not an HTTP answer: ${JSON.stringify(got.slice(0, 80))}`));
    });
  });
}

const yaml = (tlsPort: number, tcpPort: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - name: passthrough
      port: ${tlsPort}
      protocol: TLS
      hostname: "*.example.com"
      tls: { mode: Passthrough }
    - { name: redis, port: ${tcpPort}, protocol: TCP }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: secure-web }
spec:
  ports: [{ name: https, port: 8443, protocol: tcp }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: redis }
spec:
  ports: [{ name: redis, port: 6379, protocol: tcp }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: secure }
spec:
  parentRefs: [{ name: edge, sectionName: passthrough }]
  hostnames: [secure.example.com]
  rules: [{ backendRefs: [{ name: secure-web, port: 8443 }] }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: { name: redis }
spec:
  parentRefs: [{ name: edge, sectionName: redis }]
  rules: [{ backendRefs: [{ name: redis, port: 6379 }] }]
`;

describe('weft gateway: TLS passthrough (TLSRoute) and TCP (TCPRoute)', () => {
  let cp: ControlPlaneProc;
  let gw: GatewayProc;
  let webSidecar: SidecarProc;
  let redisSidecar: SidecarProc;
  let redis: L4Server;
  let sServer: ChildProcess;
  let cert: TestCert;
  let tlsPort: number;
  let tcpPort: number;
  let accessLog: string;
  const curl = (host: string, ...args: string[]) => run('curl', ['-sS', '--resolve', `${host}:${tlsPort}:127.0.0.1`, '--cacert', cert.certFile, '-o', '/dev/null', '-w', '%{http_code} %{ssl_verify_result}', ...args, `https://${host}:${tlsPort}/`], { timeout: 15_000 });

  beforeAll(async () => {
    cp = await startControlPlane();
    [tlsPort, tcpPort] = [await freePort(), await freePort()];
    const applied = await weftApply(cp, yaml(tlsPort, tcpPort), 'l4-edge.yaml');
    expect(applied.code, applied.stderr).toBe(0);
    // The HTTPS backend: openssl's own server with a certificate only it holds.
    cert = selfSignedCert(['secure.example.com']);
    const appPort = await freePort();
    sServer = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${appPort}`, '-cert', cert.certFile, '-key', cert.keyFile, '-www', '-quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
    sServer.on('error', () => undefined);
    redis = await startRedis();
    accessLog = join(tempDir('weft-l4-log-'), 'access.log');
    [webSidecar, redisSidecar, gw] = await Promise.all([
      startSidecar(cp.xdsPort, { service: 'secure-web', appPort, appProtocol: 'tcp', id: 'secure-web-1.default' }),
      startSidecar(cp.xdsPort, { service: 'redis', appPort: redis.port, appProtocol: 'tcp', id: 'redis-1.default' }),
      startGateway(cp.xdsPort, 'default/edge', { extraArgs: ['--access-log', accessLog] }),
    ]);
    await eventually(async () => (await curl('secure.example.com').catch(() => ({ stdout: '' }))).stdout === '200 0', 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    sServer?.kill('SIGKILL');
    await Promise.all([gw?.kill(), webSidecar?.kill(), redisSidecar?.kill()]);
    await redis?.stop();
    await cp?.kill();
    cleanupCerts();
  }, 30_000);

  it('TLSRoute: curl --resolve verifies the backend\'s own certificate through the gateway (TLS 1.3 and 1.2, h2 and http/1.1 offered)', async () => {
    expect((await curl('secure.example.com')).stdout).toBe('200 0');
    expect((await curl('secure.example.com', '--tlsv1.2', '--tls-max', '1.2')).stdout).toBe('200 0');
    expect((await curl('secure.example.com', '--http1.1')).stdout).toBe('200 0');
    // The certificate presented is the backend's (openssl s_server's), subject and all.
    const s = await run('bash', ['-c', `openssl s_client -connect 127.0.0.1:${tlsPort} -servername secure.example.com -CAfile ${cert.certFile} </dev/null 2>&1`], { timeout: 10_000 });
    expect(s.stdout).toMatch(/subject=CN ?= ?secure\.example\.com/);
    expect(s.stdout).toMatch(/Verify return code: 0 \(ok\)/);
    // Verified against another CA, the same connection fails: nothing in between re-signs it.
    const other = selfSignedCert(['secure.example.com']);
    await expect(run('curl', ['-sS', '--resolve', `secure.example.com:${tlsPort}:127.0.0.1`, '--cacert', other.certFile, `https://secure.example.com:${tlsPort}/`], { timeout: 10_000 })).rejects.toThrow();
    figure('TLS passthrough via curl', { verify: (await curl('secure.example.com')).stdout });
  });

  it('closes a TLS connection whose SNI no TLSRoute names (no decryption, no fallback)', async () => {
    const r = await run('bash', ['-c', `curl -sS --resolve other.example.com:${tlsPort}:127.0.0.1 --cacert ${cert.certFile} https://other.example.com:${tlsPort}/ 2>&1; echo rc=$?`], { timeout: 15_000 });
    expect(r.stdout).not.toMatch(/rc=0/);
    // Plain bytes on the passthrough port: closed as well.
    const plain = await run('bash', ['-c', `curl -sS http://127.0.0.1:${tlsPort}/ 2>&1; echo rc=$?`], { timeout: 15_000 });
    expect(plain.stdout).not.toMatch(/rc=0/);
  });

  it('TCPRoute: redis-cli reaches Redis through the gateway and the Redis sidecar', async () => {
    await waitForHosts(redisSidecar, 'inbound|' + String(redis.port) + '|redis.default', 1).catch(() => undefined);
    await eventually(async () => (await redisPing(tcpPort).catch(() => '')) === 'PONG', 20_000, 100);
    const set = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(tcpPort), 'set', 'edge', 'tcp'], { timeout: 10_000 });
    expect(set.stdout.trim()).toBe('OK');
    const got = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(redis.port), 'get', 'edge'], { timeout: 10_000 });
    expect(got.stdout.trim()).toBe('tcp');
  });

  it('counts connections, bytes and durations per cluster, and logs one line per connection with its SNI', async () => {
    const metrics = await eventually(async () => {
      const m = await (await fetch(`${gw.admin}/stats/prometheus`)).text();
      return /weft_tcp_connections_opened_total\{cluster="outbound\|8443\|\|secure-web\.default"\} [1-9]/.test(m) ? m : undefined;
    }, 10_000, 100);
    for (const name of ['weft_tcp_connections_active', 'weft_tcp_connections_closed_total', 'weft_tcp_sent_bytes_total', 'weft_tcp_received_bytes_total', 'weft_tcp_connection_duration_seconds_count']) {
      expect(metrics, name).toMatch(new RegExp(`${name}\\{cluster="outbound\\|8443\\|\\|secure-web\\.default"\\} \\d`));
    }
    expect(metrics).toMatch(/weft_tcp_received_bytes_total\{cluster="outbound\|8443\|\|secure-web\.default"\} [1-9]\d*/);
    // One connection of this test's own, made with everything known to be up (the readiness loop's
    // first connections may have needed a second connect attempt), found by its source port.
    const port = await tlsExchange(tlsPort, 'secure.example.com', cert.certFile);
    const lines = await eventually(() => {
      const all = readFileSync(accessLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const tcp = all.filter((l) => l.protocol === 'TCP');
      return tcp.some((l) => l.downstream === `127.0.0.1:${port}`) && tcp.some((l) => l.flags === 'NR' && l.server_name === 'other.example.com') ? tcp : undefined;
    }, 10_000, 100);
    const ok = lines.find((l) => l.downstream === `127.0.0.1:${port}`)!;
    expect(ok).toMatchObject({ direction: 'gateway', server_name: 'secure.example.com', flags: '', cluster: 'outbound|8443||secure-web.default', attempts: 1 });
    expect(ok.bytes_received as number).toBeGreaterThan(0);
    expect(ok.bytes_sent as number).toBeGreaterThan(0);
    // The SNI no route names, and the plaintext bytes on the passthrough port, each have their line.
    expect(lines.filter((l) => l.flags === 'NR').map((l) => l.server_name ?? null).sort()).toEqual([null, 'other.example.com']);
    figure('gateway access log, one TLS passthrough connection', ok);
  });
});
