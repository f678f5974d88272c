/**
 * The control-plane daemon: loads the store, serves xDS (gRPC) and the admin API (HTTP/JSON), and
 * shuts down cleanly on SIGTERM/SIGINT. Prints one `ready` line on stdout with the bound addresses,
 * which is what scripts and tests wait for (port 0 picks free ports).
 */
import { ServerCredentials } from '@grpc/grpc-js';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { createHash } from 'node:crypto';
import type { ReplicaRecord, ReplicaSet } from './replicas.js';
import { createLogger, type Logger } from '../common/log.js';
import { validateStoredResource } from './config/index.js';
import { ControlPlane } from './control-plane.js';
import { FileStore } from './store/file-store.js';
import type { ConfigStore } from './store/store.js';
import type { EtcdStoreOptions } from './store/etcd-options.js';
import { WeftError } from '../common/errors.js';
import { AdminServer } from './admin/server.js';
import { replicaAuthKey } from './admin/fan-out.js';
import { loadOrCreateToken, TOKEN_FILE } from './admin/token.js';
import { XdsServer } from './xds/server.js';
import { ControlPlaneMetrics } from './admin/metrics.js';
import { LoadStore } from './telemetry/load-store.js';
import { LrsServer } from './telemetry/lrs-server.js';
import { CertificateAuthority } from './ca/ca.js';
import { JoinTokens } from './ca/tokens.js';
import { IdentityServer } from './ca/service.js';
import { RootRotation } from './ca/rotation.js';
import { TraceStore } from './telemetry/trace-store.js';
import { OtlpReceiver } from './telemetry/otlp-receiver.js';

export interface ControlPlaneDaemonOptions {
  dataDir: string;
  /**
   * The configuration store: the file store in `dataDir` (default), or etcd shared by several
   * replicas. On etcd the registry is shared there too, and the CA's keys, the join-token key and
   * the admin token live there sealed with `caKek`.
   */
  etcd?: EtcdStoreOptions;
  /** etcd unreachable at start: how long to wait for it before giving up (default: forever). */
  storeWaitMs?: number;
  /**
   * With etcd: the key-encryption key's content (--ca-kek-file), required. The CA's keys, the
   * join-token key and the admin token live in etcd sealed with it, shared by every replica.
   */
  caKek?: Buffer;
  /** How often the leader compacts etcd's history (default 5 min; tests shorten it). */
  etcdCompactEveryMs?: number;
  /** This replica's name among replicas (default <hostname>-<pid>). */
  replicaName?: string;
  /** The host other replicas, the CLI and proxies reach this replica at (default: see advertisedHost). */
  advertiseHost?: string;
  /** host:port for xDS over TLS (ADS + IdentityService). */
  xdsAddress: string;
  /** host:port for plaintext xDS (proxyless gRPC clients; unauthenticated: keep it on loopback). */
  xdsPlaintextAddress?: string;
  /**
   * Let plaintext xDS streams register instances (`--xds-plaintext-register`). Off by default:
   * anything that can reach the plaintext port could otherwise add endpoints to any service.
   */
  xdsPlaintextRegister?: boolean;
  /** Operator CA: the signing certificate (root or intermediate), its key, and the chain above it. */
  caCertFile?: string;
  caKeyFile?: string;
  caChainFile?: string;
  /** How long each root-rotation step waits for the mesh to catch up. */
  rotationStepTimeoutMs?: number;
  /** host:port of the embedded OTLP/HTTP trace receiver; unset: not started. */
  otlpAddress?: string;
  /** Bounds of the embedded trace store. */
  traceStore?: { maxTraces?: number; maxBytes?: number };
  /** How often sidecars send load reports (default 5 s). */
  loadReportIntervalMs?: number;
  /** host:port for the admin API. */
  adminAddress: string;
  registryGraceMs: number;
  /** xDS response bytes queued for writing at once, over all streams (default 8 MiB). */
  xdsPushBudgetBytes?: number;
  logger?: Logger;
}

export interface RunningControlPlane {
  xdsPort: number;
  /** 0 when no plaintext xDS port was asked for. */
  xdsPlaintextPort: number;
  /** 0 when the OTLP receiver is off. */
  otlpPort: number;
  adminPort: number;
  token: string;
  /** The in-process control plane (embedding, and tests that script what it serves). */
  controlPlane: ControlPlane;
  stop(): Promise<void>;
}

/** The host this replica is reached at: --advertise-host, else the admin host unless a wildcard. */
export function advertisedHost(flag: string | undefined, adminHost: string): string {
  if (flag) return flag;
  return adminHost === '0.0.0.0' || adminHost === '::' ? hostname() : adminHost;
}

const hostPort = (h: string, port: number) => (h.includes(':') ? `[${h}]:${port}` : `${h}:${port}`);

/** The leader's compaction job (see its use); returns its stop function. */
function compactor(client: import('etcd3').Etcd3, log: Logger, everyMs: number): () => void {
  let previous = 0;
  const tick = async () => {
    const now = Number((await client.get('/').exec()).header.revision);
    if (previous > 0 && previous < now) {
      await client.kv.compact({ revision: String(previous) });
      log.debug({ revision: previous }, 'etcd history compacted');
    }
    previous = now;
  };
  const t = setInterval(() => void tick().catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'etcd compaction failed (tried again next period)')), everyMs);
  t.unref();
  void tick().catch(() => undefined);
  return () => clearInterval(t);
}

export function splitHostPort(addr: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new Error(`${flag}: want HOST:PORT (e.g. 127.0.0.1:15010), got '${addr}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function startControlPlane(opts: ControlPlaneDaemonOptions): Promise<RunningControlPlane> {
  const log = opts.logger ?? createLogger('weft-control-plane');
  const xdsAddr = splitHostPort(opts.xdsAddress, '--xds-address');
  const adminAddr = splitHostPort(opts.adminAddress, '--admin-address');
  const etcdStore = opts.etcd ? new (await import('./store/etcd-store.js')).EtcdStore(opts.etcd, validateStoredResource, log.child({ component: 'store' })) : undefined;
  const store: ConfigStore = etcdStore ?? new FileStore(opts.dataDir, validateStoredResource);
  // On etcd the registry is shared too: every replica serves every replica's instances.
  const SharedRegistry = etcdStore ? (await import('./registry/shared.js')).SharedRegistry : undefined;
  const replica = opts.replicaName ?? `${hostname()}-${process.pid}`;
  if (etcdStore && !opts.caKek) throw new WeftError('CLI_USAGE', 'an etcd store needs --ca-kek-file: the key-encryption key every replica shares (make one once with: head -c 32 /dev/urandom | base64 > kek)');
  const kek = etcdStore ? (await import('./ca/etcd-vault.js')).deriveKek(opts.caKek!, '--ca-kek-file') : undefined;
  const vault = etcdStore && kek ? new (await import('./ca/etcd-vault.js')).EtcdVault(etcdStore.client, etcdStore.prefix, kek, log.child({ component: 'ca' })) : undefined;
  if (opts.xdsPlaintextRegister && !opts.xdsPlaintextAddress) throw new Error('--xds-plaintext-register needs --xds-plaintext-address');
  const cp = new ControlPlane({
    store,
    logger: log.child({ component: 'core' }),
    registryGraceMs: opts.registryGraceMs,
    registryFile: join(opts.dataDir, 'registry.json'),
    registerUnauthenticated: opts.xdsPlaintextRegister ?? false,
    ...(etcdStore && SharedRegistry ? { shareRegistry: (local) => new SharedRegistry(local, { client: etcdStore.client, prefix: etcdStore.prefix, replica, ttlMs: opts.registryGraceMs, logger: log.child({ component: 'registry' }) }) } : {}),
  });
  // A replica that starts while etcd is away serves nothing (stale or empty) by surprise: it waits
  // for the store, says so, and is not up (no ready line, no ports) until it has read it.
  for (let delay = 250, waited = 0; ; ) {
    try {
      await cp.start();
      break;
    } catch (e) {
      if (!(e instanceof WeftError && e.code === 'STORE_UNAVAILABLE') || (opts.storeWaitMs !== undefined && waited >= opts.storeWaitMs)) throw e;
      log.warn({ err: { message: e.message }, retryInMs: delay }, 'waiting for the configuration store (etcd); not serving until it answers');
      await new Promise((r) => setTimeout(r, delay));
      waited += delay;
      delay = Math.min(5000, delay * 2);
    }
  }
  const token = await loadOrCreateToken(opts.dataDir, vault);
  const ca = await CertificateAuthority.open({ dataDir: opts.dataDir, rootCertFile: opts.caCertFile, rootKeyFile: opts.caKeyFile, chainFile: opts.caChainFile, logger: log.child({ component: 'ca' }), ...(vault ? { vault } : {}) });
  const tokens = await JoinTokens.open(opts.dataDir, vault);
  const identity = new IdentityServer({ ca, tokens, mesh: () => cp.model.mesh, logger: log.child({ component: 'ca' }), serveHosts: [xdsAddr.host] });
  cp.setTrust(ca.trustBundlePem());
  ca.onChange(() => cp.setTrust(ca.trustBundlePem()));

  let metrics: ControlPlaneMetrics | undefined;
  const xds = new XdsServer({
    cache: cp.cache,
    logger: log.child({ component: 'xds' }),
    callbacks: {
      onStreamOpen: (node) => cp.streamOpened(node),
      onStreamClose: (node, leaving) => cp.streamClosed(node, leaving),
      onDraining: (node) => cp.streamDraining(node),
    },
    authorize: (node, peer) => identity.authorizeXds(node, peer),
    onReply: (kind, result, seconds) => metrics?.pushLatency.observe({ kind, result }, seconds),
    ...(opts.xdsPushBudgetBytes ? { pushBudgetBytes: opts.xdsPushBudgetBytes } : {}),
  });
  const loads = new LoadStore();
  const lrs = new LrsServer({ store: loads, intervalMs: opts.loadReportIntervalMs ?? 5000, logger: log.child({ component: 'lrs' }), authorize: (node, peer) => identity.authorizeXds(node, peer) });
  const bracket = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const xdsPort = await xds.listen(`${bracket(xdsAddr.host)}:${xdsAddr.port}`, await identity.start(), (server) => {
    identity.bind(server);
    lrs.bind(server, true);
  });
  let xdsPlaintextPort = 0;
  if (opts.xdsPlaintextAddress) {
    const p = splitHostPort(opts.xdsPlaintextAddress, '--xds-plaintext-address');
    xdsPlaintextPort = await xds.listen(`${bracket(p.host)}:${p.port}`, ServerCredentials.createInsecure(), (server) => lrs.bind(server, false));
    if (opts.xdsPlaintextRegister) {
      log.warn(
        { xdsPlaintext: `${p.host}:${xdsPlaintextPort}` },
        '--xds-plaintext-register is on: any process that reaches the plaintext xDS port can register endpoints for any service (instances held by authenticated sidecars stay theirs)',
      );
    }
  }
  // Replicas on etcd find each other and elect a leader for single-writer jobs (replicas.ts).
  const advertise = advertisedHost(opts.advertiseHost, adminAddr.host);
  const startedAt = new Date().toISOString();
  const bundleId = () => createHash('sha256').update(ca.trustBundlePem()).digest('hex').slice(0, 16);
  let adminPort = 0;
  const selfRecord = (): ReplicaRecord => {
    const signing = ca.roots()[0]!.fingerprint;
    // Written every second (replicas.ts): one walk over the streams serves both figures.
    const all = xds.status();
    const sc = all.filter((p) => p.role === 'sidecar');
    const synced = cp.publishedTrust === ca.trustBundlePem() && sc.every((p) => p.types.secret?.state === 'SYNCED');
    return {
      name: replica,
      xds: `${hostPort(advertise, xdsPort)}`,
      admin: `${hostPort(advertise, adminPort)}`,
      startedAt,
      revision: cp.model.revision,
      proxies: all.length,
      ca: { bundle: bundleId(), trustSynced: synced, renewedFrom: synced && sc.every((p) => identity.issued.get(p.nodeId)?.issuerFingerprint === signing) ? signing : null },
    };
  };
  let replicas: ReplicaSet | undefined;
  const rotation = new RootRotation({
    ca,
    identity,
    proxies: () => xds.status() as never,
    publishTrust: () => cp.setTrust(ca.trustBundlePem()),
    logger: log.child({ component: 'ca' }),
    stepTimeoutMs: opts.rotationStepTimeoutMs ?? 30_000,
    ...(etcdStore
      ? {
          isLeader: () => replicas?.leading ?? false,
          othersReady: (what, fp) => (replicas?.others() ?? []).every((r) => r.ca.bundle === bundleId() && r.ca.trustSynced && (what === 'trust' || r.ca.renewedFrom === fp)),
        }
      : {}),
  });
  const driveRotation = () => {
    if (ca.rotationPhase() !== 'none' && !rotation.running && (!etcdStore || replicas?.leading)) {
      void rotation.start().catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'root rotation step failed; the leader tries again within 5 s'));
    }
  };
  // A rotation interrupted by a restart (or started on another replica) carries on.
  ca.onChange(driveRotation);
  if (!etcdStore) driveRotation();

  const traces = new TraceStore(opts.traceStore);
  let otlp: OtlpReceiver | undefined;
  let otlpPort = 0;
  if (opts.otlpAddress) {
    const p = splitHostPort(opts.otlpAddress, '--otlp-address');
    otlp = new OtlpReceiver(traces, log.child({ component: 'otlp' }));
    otlpPort = await otlp.listen(p.port, p.host);
    const h = p.host === '0.0.0.0' ? '127.0.0.1' : p.host === '::' ? '::1' : p.host;
    cp.setTelemetryDefaults({ otlpUrl: `http://${h.includes(':') ? `[${h}]` : h}:${otlpPort}/v1/traces` });
  }
  metrics = new ControlPlaneMetrics({ cp, xds: () => xds, loads, traces, lrsStreams: () => lrs.streams, certificatesIssued: () => identity.counters.issued, ...(etcdStore ? { replicas: () => replicas?.list() ?? [] } : {}) });
  const cpMetrics = metrics;
  const admin = new AdminServer({
    controlPlane: cp,
    token,
    // Each proxy with the configuration revision its snapshot was built from (on etcd: the etcd
    // revision of that commit, the same number on every replica).
    proxyStatus: () => xds.status().map((p) => ({ ...p, revision: cp.snapshotRevision(p.nodeId) ?? null })),
    metrics: () => cpMetrics.text(),
    loads,
    identity: { ca, tokens, issued: identity.issued, rotation, counters: identity.counters },
    replicas: () => replicas?.list() ?? [{ ...selfRecord(), leader: true, healthy: true, self: true }],
    ...(kek ? { replicaAuth: { self: replica, key: replicaAuthKey(kek) } } : {}),
    traces,
    logger: log.child({ component: 'admin' }),
  });
  adminPort = await admin.listen(adminAddr.port, adminAddr.host);
  if (etcdStore) {
    const { ReplicaSet } = await import('./replicas.js');
    replicas = new ReplicaSet({
      client: etcdStore.client,
      prefix: etcdStore.prefix,
      self: selfRecord,
      logger: log.child({ component: 'replicas' }),
      onLeadership: (leading) => leading && driveRotation(),
      leaderJobs: [
        // etcd keeps every revision until compacted, and Debian's etcd compacts nothing by
        // default: its database would grow with every registration until it hits its quota and
        // refuses writes. The leader compacts to the revision it saw one period earlier, so at
        // least one period (5 min) of history stays for watches that resume after a short cut.
        () => compactor(etcdStore.client, log.child({ component: 'store' }), opts.etcdCompactEveryMs ?? 5 * 60_000),
        // A rotation whose step failed (etcd away, a conflict after a leader change) is taken up
        // again: the leader looks every 5 s while one is under way.
        () => {
          const t = setInterval(driveRotation, 5000);
          t.unref();
          return () => clearInterval(t);
        },
        () => {
          // Join-token records expired for more than a day: one replica prunes them, hourly.
          const t = setInterval(() => void tokens.prune().catch(() => undefined), 3600_000);
          t.unref();
          void tokens.prune().catch(() => undefined);
          return () => clearInterval(t);
        },
      ],
    });
    await replicas.start();
  }
  log.info({ xds: `${xdsAddr.host}:${xdsPort}`, xdsPlaintext: xdsPlaintextPort || undefined, rootFingerprint: ca.roots()[0]?.fingerprint, admin: `${adminAddr.host}:${adminPort}`, dataDir: opts.dataDir, store: opts.etcd ? `etcd://${opts.etcd.endpoints.join(',')}${opts.etcd.prefix ?? '/weft'}` : 'file', revision: cp.model.revision, tokenFile: join(opts.dataDir, TOKEN_FILE) }, 'control plane ready');

  let stopping: Promise<void> | undefined;
  return {
    xdsPort,
    xdsPlaintextPort,
    otlpPort,
    adminPort,
    token,
    controlPlane: cp,
    stop() {
      stopping ??= (async () => {
        await replicas?.close();
        await admin.close();
        await xds.close();
        await otlp?.close();
        identity.close();
        // Every watch on the etcd client ends before the client closes (a live one reconnects it).
        await vault?.close();
        await cp.close();
      })();
      return stopping;
    },
  };
}
