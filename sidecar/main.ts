/**
 * `weft sidecar`: binds the outbound, inbound and admin listeners, registers with the control
 * plane through node metadata on its ADS stream, applies every accepted update to the runtime,
 * and drains on SIGTERM/SIGINT: /ready fails, the instance leaves the registry, keep-alive
 * clients are told to go, in-flight requests finish (up to --drain-timeout), exit 0.
 * Prints one `ready` line on stdout with the bound addresses (tests and scripts wait for it).
 * With `--workers N` (N > 1) this process is the primary and forks N such sidecars as workers
 * (sidecar/workers/primary.ts); a worker runs this same code with a WorkerLink: node id <id>~w<k>, the primary's join token, no
 * admin listener (it answers the primary's admin questions over IPC instead).
 */
import { createHash, randomBytes } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { JsonObject } from '@bufbuild/protobuf';
import { formatFieldError } from '../common/errors.js';
import { createLogger, parseLogFormat, parseLogLevel, type LogFormat } from '../common/log.js';
import { NODE_META, SIDECAR_LISTENER } from '../common/xds-types.js';
import { localAdmin, startAdmin, type AdminState } from './admin/server.js';
import { installProcessGuard } from './telemetry/guard.js';
import { HttpListener, type LimitEvent, type RequestObserver } from './listeners/http-listener.js';
import { RequestStats } from './telemetry/request-stats.js';
import { ConsumerStats } from './telemetry/consumer-stats.js';
import { consumerLabels, DEFAULT_MAX_CONSUMERS } from './telemetry/consumer-label.js';
import { BusyPolicy } from './telemetry/busy-policy.js';
import { settleStreamErrorPath } from './http/stream-state.js';
import { AccessLog } from './telemetry/access-log.js';
import { LoadReporter } from './telemetry/load-reporter.js';
import { Runtime } from './runtime.js';
import { AppProbe } from './upstream/app-probe.js';
import { AdsClient, type XdsProtocolMode } from './xds/ads-client.js';
import type { XdsListener } from './xds/types/listener.js';
import { readFileSync } from 'node:fs';
import { MeshTls } from './tls/mesh-tls.js';
import type { Denial, RequestHead } from './http/filter.js';
import { Tracing, tracingToLoad } from './telemetry/tracing.js';
import { IdentityError, WorkloadIdentity } from './identity/workload.js';
import { announceListening, serveWorkerAdmin } from './workers/worker.js';
import { IS_CLUSTER_WORKER, workerLinkFromEnv, workerNodeId, type WorkerLink } from './workers/ipc.js';
import { GATEWAY_LISTENER_PREFIX, GatewayListeners, TCP_OUTBOUND_PREFIX, type ServingListener } from './listeners/gateway-listeners.js';
import { TcpListener, type TcpDenial } from './tcp/tcp-listener.js';
import { ControlPlanes } from './identity/control-planes.js';
import { TcpStats, type TcpConnectionRecord } from './telemetry/tcp-stats.js';

const GATEWAY_USAGE = `usage: weft gateway --gateway NAMESPACE/NAME --control-plane HOST:PORT[,HOST:PORT...] [options]
  The same data plane as \`weft sidecar\`, serving a Gateway API Gateway's listeners (ports and
  routes come from the control plane) and reaching mesh services over mTLS as a mesh client.
  --gateway NS/NAME         the Gateway this process serves (several processes may serve one)
  --service NAME            workload identity: the Gateway's name (the default, and the only
                            one the control plane accepts); its join token is made with
                            \`weft token create --service <gateway name>\`
  --listen-address IP       bind the Gateway's listeners here (default: the Listener's, 0.0.0.0)
  --admin-port N            default 15000 (on 127.0.0.1)
  --id ID, --token-file FILE, --ca-file FILE, --trust-domain TD, --xds-protocol P,
  --access-log DEST, --access-log-sampling R, --metrics-max-series N, --metrics-max-consumers N, --drain-timeout DUR,
  --drain-delay DUR, --zone Z, --log-format F   as for \`weft sidecar\``;

const USAGE = `usage: weft sidecar --service NAME --app-port PORT --control-plane HOST:PORT[,HOST:PORT...] [options]
  --app-port PORT           where the app listens, on 127.0.0.1: probed every 2 s, and /ready is
                            503 while nothing listens there; 0: no app (a workload that only
                            calls out: nothing is probed, inbound requests fail)
  --control-plane LIST      the control plane's xDS address; with several replicas (on etcd),
                            each one's: the sidecar starts at a random one and moves to the next
                            when its stream is lost (jittered backoff; the last good config keeps
                            serving while none answers). A DNS name with several addresses also
                            fails over (gRPC tries each address).
  --namespace NS            default: default
  --app-protocol P          auto | http | http2 | grpc | tcp (default auto: h2c to the app when
                            every port of its Service is grpc or http2, HTTP/1.1 otherwise);
                            tcp: the app is a TCP service (Service port protocol tcp): the
                            inbound carries bytes
  --outbound-port N         default 15001 (on 127.0.0.1)
  --inbound-port N          default 15006
  --inbound-address IP      default 0.0.0.0
  --admin-port N            default 15000 (on 127.0.0.1)
  --instance-ip IP          address peers use to reach this instance (default 127.0.0.1)
  --labels k=v,k=v          instance labels (subsets), e.g. version=v2
  --zone Z                  locality zone
  --id ID                   node id (default <service>-<random>.<namespace>)
  --token-file FILE         join token for the first certificate (or env WEFT_JOIN_TOKEN);
                            create one with \`weft token create --service NAME\`
  --ca-file FILE            PEM root(s) to verify the control plane with (default: the root
                            the join token pins, checked by its SHA-256 fingerprint)
  --cert-renew-fraction F   renew the workload certificate when this fraction of its lifetime
                            has passed (default 0.5)
  --xds-protocol P          auto | delta | sotw (default auto: delta when the control plane
                            offers it, state of the world otherwise)
  --access-log DEST         access log: stdout, stderr or a file path (default off); pino JSON
                            lines written asynchronously
  --access-log-sampling F   fraction of successful requests logged, 0..1 (default 1); failed
                            requests are always logged
  --metrics-max-series N    at most N (route, cluster) pairs in request metrics; more are
                            folded into route="other" (default 1000)
  --metrics-max-consumers N consumers with their own label in per-consumer metrics and load
                            reports; more fold into consumer="other" (default 100; 0: no
                            per-consumer analytics)
  --drain-timeout DUR       how long in-flight requests may finish on SIGTERM (default 20s)
  --drain-delay DUR         keep serving (with Connection: close) after leaving the registry, so
                            peers see the endpoint go before the listener closes (default 1s)
  --log-format json|pretty  json (default, env WEFT_LOG_FORMAT): one JSON object per line on
                            stderr, ISO 8601 time; pretty: one readable line per event (terminals)
  --workers N|auto          worker processes sharing the listeners (default 1; auto: one per
                            core). Each is a whole sidecar with node id <id>~w<k>; the admin
                            port is served once, aggregated across workers`;

/** --workers: a count from 1 to 256, or `auto` (os.availableParallelism()). */
function workerCount(v: string | undefined): number {
  if (v === undefined) return 1;
  if (v === 'auto') return availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--workers: want a number from 1 to 256 or 'auto', got '${v}'`);
  return n;
}

function duration(v: string | undefined, dflt: number, flag: string): number {
  if (v === undefined) return dflt;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (!m) throw new Error(`${flag}: '${v}' is not a duration (e.g. 500ms, 20s)`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

function port(v: string | undefined, dflt: number, flag: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${flag}: '${v}' is not a port (0..65535)`);
  return n;
}

/** Set once the listeners are bound and the sidecar runs (a failed start returns before). */
let started = false;

export interface MainOptions {
  /** `weft gateway`: serve a Gateway's listeners instead of the sidecar's outbound and inbound. */
  mode?: 'sidecar' | 'gateway';
  /**
   * V8 flags to set the first time the sidecar is busy: bin/weft.js started V8 with these parts
   * held back (common/v8-flags.ts HELD_BACK, telemetry/busy-policy.ts). Empty or absent: none.
   */
  busyFlags?: readonly string[];
  /** V8 flags to set once the sidecar is ready, until it is busy (HELD_BACK's `ready` flags). */
  readyFlags?: readonly string[];
}

export async function main(argv: string[], opts: MainOptions = {}): Promise<void> {
  await run(argv, opts);
  // A worker keeps the IPC channel to its primary open, so a failed start must end it by exiting.
  if (IS_CLUSTER_WORKER && !started) process.exit(typeof process.exitCode === 'number' ? process.exitCode : 1);
}

async function run(argv: string[], opts: MainOptions): Promise<void> {
  settleStreamErrorPath();
  const gatewayMode = opts.mode === 'gateway';
  const me = gatewayMode ? 'weft gateway' : 'weft sidecar';
  let a;
  let planes!: ControlPlanes;
  let logFormat!: LogFormat;
  let logLevel!: string;
  try {
    a = parseArgs({
      args: argv,
      options: {
        service: { type: 'string' },
        namespace: { type: 'string', default: 'default' },
        'app-port': { type: 'string' },
        'app-protocol': { type: 'string', default: 'auto' },
        'control-plane': { type: 'string' },
        'outbound-port': { type: 'string' },
        'inbound-port': { type: 'string' },
        'inbound-address': { type: 'string', default: '0.0.0.0' },
        'admin-port': { type: 'string' },
        'instance-ip': { type: 'string', default: '127.0.0.1' },
        labels: { type: 'string', default: '' },
        zone: { type: 'string', default: '' },
        id: { type: 'string' },
        'xds-protocol': { type: 'string', default: 'auto' },
        'token-file': { type: 'string' },
        'ca-file': { type: 'string' },
        'trust-domain': { type: 'string', default: 'cluster.local' },
        'cert-renew-fraction': { type: 'string', default: '0.5' },
        'drain-timeout': { type: 'string' },
        'access-log': { type: 'string' },
        'access-log-sampling': { type: 'string', default: '1' },
        'metrics-max-series': { type: 'string', default: '1000' },
        'metrics-max-consumers': { type: 'string', default: String(DEFAULT_MAX_CONSUMERS) },
        'drain-delay': { type: 'string' },
        workers: { type: 'string' },
        gateway: { type: 'string' },
        'listen-address': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
    if (a.help) {
      process.stdout.write(`${gatewayMode ? GATEWAY_USAGE : USAGE}\n`);
      return;
    }
    if (gatewayMode) {
      const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)$/.exec(a.gateway ?? '');
      if (!m) throw new Error(`--gateway: want NAMESPACE/NAME, got '${a.gateway ?? ''}'`);
      a.namespace = m[1]!;
      // The control plane sends a Gateway's TLS keys only to the Gateway's own identity.
      if (a.service !== undefined && a.service !== m[3]) throw new Error(`--service: a gateway's identity is its Gateway's name (${m[3]}), not '${a.service}' (the control plane refuses any other: it sends this identity the Gateway's TLS keys)`);
      a.service = m[3]!;
      if (a.workers !== undefined) throw new Error('--workers is not supported by weft gateway yet');
      for (const f of ['app-port', 'outbound-port', 'inbound-port', 'inbound-address', 'instance-ip'] as const) if (argv.some((x) => x === `--${f}` || x.startsWith(`--${f}=`))) throw new Error(`--${f} is a sidecar flag; a gateway's listeners come from its Gateway`);
      a['app-port'] = '0';
    } else if (a.gateway !== undefined || a['listen-address'] !== undefined) throw new Error('--gateway and --listen-address are weft gateway flags');
    for (const f of ['service', 'app-port', 'control-plane'] as const) if (!a[f]) throw new Error(`--${f} is required`);
    if (!['auto', 'delta', 'sotw'].includes(a['xds-protocol']!)) throw new Error(`--xds-protocol: '${a['xds-protocol']}' is not one of auto, delta, sotw`);
    if (!(Number(a['access-log-sampling']) >= 0 && Number(a['access-log-sampling']) <= 1)) throw new Error(`--access-log-sampling: want a number from 0 to 1, got '${a['access-log-sampling']}'`);
    if (!(Number.isInteger(Number(a['metrics-max-series'])) && Number(a['metrics-max-series']) > 0)) throw new Error(`--metrics-max-series: want a positive integer, got '${a['metrics-max-series']}'`);
    if (!(Number.isInteger(Number(a['metrics-max-consumers'])) && Number(a['metrics-max-consumers']) >= 0)) throw new Error(`--metrics-max-consumers: want 0 or a positive integer, got '${a['metrics-max-consumers']}'`);
    if (!['auto', 'http', 'http2', 'grpc', 'tcp'].includes(a['app-protocol']!)) throw new Error(`--app-protocol: '${a['app-protocol']}' is not one of auto, http, http2, grpc, tcp`);
    if (a['app-protocol'] === 'tcp' && a.workers !== undefined && a.workers !== '1') throw new Error('--workers: a TCP app (--app-protocol tcp) is served by one process');
    planes = new ControlPlanes(a['control-plane']!);
    logFormat = parseLogFormat(a['log-format']);
    logLevel = parseLogLevel(undefined);
  } catch (e) {
    process.stderr.write(`${me}: ${(e as Error).message}\n${gatewayMode ? GATEWAY_USAGE : USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const service = a.service!;
  const namespace = a.namespace!;
  const appProtocol = a['app-protocol'] as 'auto' | 'http' | 'http2' | 'grpc' | 'tcp';
  let appPort: number, outPort: number, inPort: number, adminPort: number, drainTimeout: number, drainDelay: number, workers: number;
  const labels: Record<string, string> = {};
  try {
    appPort = port(a['app-port'], 0, '--app-port');
    outPort = port(a['outbound-port'], 15001, '--outbound-port');
    inPort = port(a['inbound-port'], 15006, '--inbound-port');
    adminPort = port(a['admin-port'], 15000, '--admin-port');
    drainTimeout = duration(a['drain-timeout'], 20_000, '--drain-timeout');
    drainDelay = duration(a['drain-delay'], 1000, '--drain-delay');
    workers = workerCount(a.workers);
    for (const kv of a.labels!.split(',').filter(Boolean)) {
      const [k, v] = kv.split('=');
      if (!k || v === undefined) throw new Error(`--labels: '${kv}' is not key=value`);
      labels[k.trim()] = v.trim();
    }
  } catch (e) {
    process.stderr.write(`weft sidecar: ${(e as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  // A worker is forked by the primary with the same argv; what the primary resolved once (node id,
  // join token) comes in its environment.
  let worker: WorkerLink | undefined;
  if (workers > 1 && IS_CLUSTER_WORKER) {
    try {
      worker = workerLinkFromEnv(process.env);
    } catch (e) {
      process.stderr.write(`weft sidecar: ${(e as Error).message}\n`);
      process.exit(2);
    }
  }
  const baseId = worker?.baseId ?? a.id ?? `${service}-${randomBytes(4).toString('hex')}.${namespace}`;
  const id = worker ? workerNodeId(baseId, worker.index) : baseId;
  // The first replica tried: chosen from the instance, so a sidecar's workers start on the same
  // one (they share one registry entry), while instances still spread over the replicas.
  planes = new ControlPlanes(a['control-plane']!, () => createHash('sha256').update(baseId).digest().readUInt32BE(0) / 2 ** 32);
  const log = createLogger('weft-sidecar', logLevel, logFormat).child({ node: id });

  // Workload identity first: without a certificate this sidecar cannot take part in the mesh.
  const renewFraction = Number(a['cert-renew-fraction']);
  let token: string | undefined;
  try {
    if (!(renewFraction > 0 && renewFraction < 1)) throw new IdentityError(`--cert-renew-fraction: want a number between 0 and 1, got '${a['cert-renew-fraction']}'`);
    token = worker ? worker.token : a['token-file'] ? readFileSync(a['token-file'], 'utf8').trim() : process.env.WEFT_JOIN_TOKEN?.trim() || undefined;
  } catch (e) {
    process.stderr.write(`weft sidecar: ${e instanceof IdentityError ? e.message : `--token-file: ${(e as Error).message}`}\n`);
    process.exitCode = 2;
    return;
  }
  const mesh = new MeshTls();
  let identity: WorkloadIdentity;
  try {
    // The constructor only checks the token against --service/--namespace (no I/O), so a primary
    // runs it too: a wrong token fails now, not after N workers crash-loop on it.
    identity = new WorkloadIdentity({
      address: planes,
      namespace,
      service,
      nodeId: id,
      token,
      caFile: a['ca-file'],
      trustDomain: a['trust-domain']!,
      renewFraction,
      logger: log.child({ component: 'identity' }),
      tls: mesh,
    });
    if (workers > 1 && !IS_CLUSTER_WORKER) {
      // Loaded only here: the primary's code, node:cluster and prom-client's aggregator are not in a single-process sidecar.
      const { runPrimary } = await import('./workers/primary.js');
      if (token === undefined) throw new IdentityError('a join token (--token-file or WEFT_JOIN_TOKEN) is required for the first certificate');
      // Join tokens are multi-use until they expire (control-plane/ca/tokens.ts), so every worker
      // gets its own key and certificate with the same token; the primary reads it once so a
      // worker restarted later does not depend on the token file still being there.
      await runPrimary({ workers, baseId, token, adminHost: '127.0.0.1', adminPort, drainBudgetMs: drainDelay + drainTimeout + 5000, logger: log.child({ component: 'workers' }) });
      return;
    }
    await identity.bootstrap();
  } catch (e) {
    process.stderr.write(`weft sidecar: ${e instanceof IdentityError ? e.message : (e as Error).stack}\n`);
    process.exitCode = 1;
    return;
  }

  const tracing = new Tracing({ namespace, nodeId: id, logger: log.child({ component: 'tracing' }) });
  const rbacLog = log.child({ component: 'rbac' });
  const onDeny = (d: RequestHead, decision: Denial): void =>
    rbacLog.warn({ policy: decision.policy, reason: decision.reason, principal: d.principal ?? null, method: d.method, authority: d.authority, path: d.path }, `request denied: ${decision.reason}`);
  const runtime = new Runtime(appProtocol === 'tcp' ? 'http' : appProtocol, mesh, tracing, onDeny, gatewayMode ? undefined : appPort === 0 ? [SIDECAR_LISTENER.outbound] : [SIDECAR_LISTENER.outbound, SIDECAR_LISTENER.inbound]);
  runtime.caches.setLogger(log.child({ component: 'cache' }));
  runtime.jwks.setLogger(log.child({ component: 'jwt_authn' }));
  runtime.rateLimits.setLogger(log.child({ component: 'ratelimit' }));
  const requests = new RequestStats({ maxSeries: Number(a['metrics-max-series']) });
  const maxConsumers = Number(a['metrics-max-consumers']);
  consumerLabels.setMax(maxConsumers);
  const consumers = maxConsumers > 0 ? new ConsumerStats({ maxSeries: Number(a['metrics-max-series']) }) : undefined;
  let accessLog: AccessLog | undefined;
  if (a['access-log'] && a['access-log'] !== 'off') {
    try {
      accessLog = new AccessLog({ destination: a['access-log'], sampling: Number(a['access-log-sampling']), node: id });
    } catch (e) {
      process.stderr.write(`weft sidecar: --access-log: ${(e as Error).message}\n`);
      process.exitCode = 2;
      return;
    }
  }
  const observer = (direction: string): RequestObserver => {
    const al = accessLog;
    const cs = consumers;
    if (al && cs)
      return (d, status, grpc, ms) => {
        requests.record(direction, d.info.clusterName, d.info.routeName, status, grpc, ms);
        cs.record(direction, d.info, status, grpc, ms);
        al.log(d, direction, status, grpc, ms);
      };
    if (al)
      return (d, status, grpc, ms) => {
        requests.record(direction, d.info.clusterName, d.info.routeName, status, grpc, ms);
        al.log(d, direction, status, grpc, ms);
      };
    if (cs)
      return (d, status, grpc, ms) => {
        requests.record(direction, d.info.clusterName, d.info.routeName, status, grpc, ms);
        cs.record(direction, d.info, status, grpc, ms);
      };
    return (d, status, grpc, ms) => requests.record(direction, d.info.clusterName, d.info.routeName, status, grpc, ms);
  };
  // Layer 4: what TCP listeners proxy with, count in, log to, and tell of RBAC denials.
  const tcpStats = new TcpStats();
  const tcp = {
    deps: { cluster: (c: string) => runtime.clusters().get(c), stats: tcpStats, loopbackSource: gatewayMode ? undefined : baseId, onConnection: accessLog ? (r: TcpConnectionRecord) => accessLog!.logConnection(r) : undefined },
    onDeny: (d: TcpDenial) => rbacLog.warn({ policy: d.decision.policy, reason: d.decision.reason, principal: d.principal ?? null, listener: d.listener, peer: d.remoteAddress }, `connection denied: ${d.decision.reason}`),
  };
  const internalLog = log.child({ component: 'http' });
  const onInternalError = (e: unknown) => internalLog.error({ err: { message: (e as Error)?.message, stack: (e as Error)?.stack } }, 'internal error while serving a request (connection closed, sidecar kept serving)');
  // A sidecar binds its outbound and inbound listeners now; a gateway binds its Gateway's
  // listeners as their config arrives (GatewayListeners), all counted in the `gateway` direction.
  const gateway = gatewayMode
    ? new GatewayListeners({
        runtime,
        prefix: GATEWAY_LISTENER_PREFIX,
        direction: 'gateway',
        tcp,
        host: a['listen-address'],
        observer: observer('gateway'),
        ...(accessLog ? { onLimit: (e: LimitEvent) => accessLog!.logLimit(e) } : {}),
        onInternalError,
        drainTimeoutMs: drainTimeout,
        logger: log.child({ component: 'gateway' }),
      })
    : undefined;
  // A sidecar's listeners for the TCP services its app calls follow the config too.
  const tcpOutbound = gatewayMode
    ? undefined
    : new GatewayListeners({ runtime, prefix: TCP_OUTBOUND_PREFIX, direction: 'outbound', tcp, host: undefined, observer: observer('outbound'), onInternalError, drainTimeoutMs: drainTimeout, logger: log.child({ component: 'tcp' }) });
  const fixed: ServingListener[] = gatewayMode
    ? []
    : [
        new HttpListener({ name: SIDECAR_LISTENER.outbound, host: '127.0.0.1', port: outPort, observer: observer('outbound'), onInternalError }, runtime.contextFor(SIDECAR_LISTENER.outbound)),
        appProtocol === 'tcp'
          ? new TcpListener({ name: SIDECAR_LISTENER.inbound, host: a['inbound-address']!, port: inPort, direction: 'inbound', source: runtime.tcpFor(SIDECAR_LISTENER.inbound), mesh, ...tcp })
          : new HttpListener({ name: SIDECAR_LISTENER.inbound, host: a['inbound-address']!, port: inPort, tls: { mesh, transport: () => runtime.inboundTransport() }, observer: observer('inbound'), onInternalError }, runtime.contextFor(SIDECAR_LISTENER.inbound)),
      ];
  let outAddr, inAddr;
  try {
    if (!gatewayMode) {
      outAddr = await fixed[0]!.listen();
      inAddr = await fixed[1]!.listen();
    }
  } catch (e) {
    process.stderr.write(`${me}: cannot listen: ${(e as Error).message}\n`);
    process.exitCode = 1;
    for (const l of fixed) l.close();
    return;
  }

  let warnedInbound = false;
  const xdsCounters = new Map<string, { accepted: number; rejected: number }>();
  const count = (kind: string, ok: boolean) => {
    let c = xdsCounters.get(kind);
    if (!c) xdsCounters.set(kind, (c = { accepted: 0, rejected: 0 }));
    if (ok) c.accepted++;
    else c.rejected++;
  };
  // A gateway is not an instance of a service: no instance address, so the registry lists it as a
  // proxy (proxy-status) and never as an endpoint.
  const metadata: JsonObject = gatewayMode
    ? { [NODE_META.role]: 'gateway', [NODE_META.gateway]: a.gateway!, [NODE_META.service]: service, [NODE_META.namespace]: namespace, [NODE_META.labels]: labels, hostname: hostname() }
    : {
    [NODE_META.role]: 'sidecar',
    [NODE_META.service]: service,
    [NODE_META.namespace]: namespace,
    [NODE_META.instanceIp]: a['instance-ip']!,
    [NODE_META.instancePort]: inAddr!.port,
    [NODE_META.appPort]: appPort,
    // auto: not sent; the control plane picks from the Service's ports.
    ...(appProtocol === 'auto' ? {} : { [NODE_META.appProtocol]: appProtocol }),
    [NODE_META.labels]: labels,
    hostname: hostname(),
    // Workers share one set of listeners: one registry entry (keyed by the base id) for all of them.
    ...(worker ? { [NODE_META.instance]: baseId, [NODE_META.worker]: worker.index } : {}),
  };
  const ads = new AdsClient({
    address: planes,
    node: { id, cluster: service, metadata, ...(a.zone ? { zone: a.zone } : {}) },
    logger: log.child({ component: 'xds' }),
    protocol: a['xds-protocol'] as XdsProtocolMode,
    tls: identity.channelTls(),
    // A Listener that exports spans needs the OpenTelemetry SDK (and the propagators): they are
    // loaded before the update is applied (the update waits), so no request goes unsampled for
    // want of them.
    // A Listener whose port cannot be bound (taken by another process) NACKs the update.
    prepare: (kind, accepted) => {
      if (kind !== 'listener') return undefined;
      const listenersNow = accepted as ReadonlyMap<string, XdsListener>;
      const load = tracingToLoad([...listenersNow.values()].flatMap((l) => (l.kind === 'http' ? [l.tracing, ...(l.edge ?? []).map((c) => c.tracing)] : [])));
      const waits = [load, gateway?.probe(listenersNow), tcpOutbound?.probe(listenersNow)].filter((w) => w !== undefined);
      return waits.length ? Promise.all(waits).then(() => undefined) : undefined;
    },
    onUpdate: (cfg, kind) => {
      count(kind, true);
      try {
        runtime.apply(cfg);
        // --app-protocol decides what the inbound listener is (bound at start); the control plane
        // decides from the Service's ports: say so loudly when they disagree (nothing is served).
        const inKind = gatewayMode ? undefined : cfg.listeners.get(SIDECAR_LISTENER.inbound)?.kind;
        if (inKind && (inKind === 'tcp') !== (appProtocol === 'tcp') && !warnedInbound) {
          warnedInbound = true;
          log.error({ appProtocol, inbound: inKind }, inKind === 'tcp' ? `the control plane sends a TCP inbound listener (the Service's ports are protocol tcp) but this sidecar runs --app-protocol ${appProtocol}: restart it with --app-protocol tcp` : "this sidecar runs --app-protocol tcp but the control plane sends an HTTP inbound listener: the Service's ports are not protocol tcp (or the control plane predates TCP services)");
        }
        void gateway?.sync(cfg.listeners);
        void tcpOutbound?.sync(cfg.listeners);
      } catch (e) {
        log.error({ err: e, kind }, 'applying an accepted update failed; previous config stays');
      }
    },
    onNack: (kind, errors) => {
      count(kind, false);
      log.warn({ kind, errors: errors.map(formatFieldError) }, 'xDS update rejected');
    },
  });

  const loadReporter = new LoadReporter({
    address: planes,
    tls: identity.channelTls(),
    node: () => ads.nodeMessage(),
    stats: requests,
    ...(consumers ? { consumers } : {}),
    inProgress: (cluster) => runtime.clusters().get(cluster)?.stats.rqActive ?? 0,
    logger: log.child({ component: 'lrs' }),
  });

  // Is the app listening? Logged once, then on change; /ready reports it. A gateway has no app,
  // nor has a client-only workload (--app-port 0).
  const appProbe = gatewayMode || appPort === 0 ? undefined : new AppProbe({ host: '127.0.0.1', port: appPort, logger: log.child({ component: 'app' }) }).start();
  let draining = false;
  // Live views: the dynamic sets change as the config does.
  const listeners: ServingListener[] = gateway ? gateway.all : fixed;
  const allListeners = (): ServingListener[] => (tcpOutbound ? [...listeners, ...tcpOutbound.all] : listeners);
  const requestsServed = () => listeners.reduce((n, l) => n + l.stats.rqTotal, 0);
  const adminState: AdminState = {
    runtime,
    get listeners() {
      return allListeners();
    },
    tcp: tcpStats,
    xds: () => ads.config,
    xdsConnected: () => ads.connected,
    xdsProtocol: () => ads.protocol,
    draining: () => draining,
    xdsCounters,
    node: { id, service, namespace },
    tls: mesh,
    tracing,
    requests,
    ...(consumers ? { consumers } : {}),
    ...(accessLog ? { accessLog } : {}),
    loadReports: loadReporter,
    ...(appProbe ? { app: appProbe } : {}),
  };
  let admin: Awaited<ReturnType<typeof startAdmin>> | undefined;
  if (worker) {
    serveWorkerAdmin(localAdmin(adminState), () => ({
      pid: process.pid,
      nodeId: id,
      ready: runtime.ready,
      xdsConnected: ads.connected,
      requests: requestsServed(),
      connections: listeners.reduce((n, l) => n + l.stats.cxTotal, 0),
    }));
  } else {
    try {
      admin = await startAdmin('127.0.0.1', adminPort, adminState);
    } catch (e) {
      process.stderr.write(`${me}: cannot listen: ${(e as Error).message}\n`);
      process.exitCode = 1;
      for (const l of fixed) l.close();
      return;
    }
  }
  ads.start();
  loadReporter.start();
  started = true;
  const busyPolicy = opts.busyFlags?.length
    ? new BusyPolicy({
        flags: opts.busyFlags,
        readyFlags: opts.readyFlags ?? [],
        requests: requestsServed,
        onBusy: (reason) => log.info({ reason, v8Flags: opts.busyFlags }, 'traffic: V8 runs with its defaults now'),
      }).start()
    : undefined;
  installProcessGuard(log.child({ component: 'guard' }));

  const drain = async (signal: string) => {
    if (draining) return;
    draining = true;
    log.info({ signal, drainDelayMs: drainDelay, drainTimeoutMs: drainTimeout }, 'draining');
    // Leave the registry first so peers stop picking this instance, then stop accepting.
    await ads.leave();
    for (const l of allListeners()) l.beginDrain();
    await new Promise((r) => setTimeout(r, drainDelay));
    const started = Date.now();
    const left = await Promise.all(allListeners().map((l) => l.drain(drainTimeout)));
    log.info({ unfinished: left.reduce((x, y) => x + y, 0), ms: Date.now() - started }, 'drained');
    runtime.close();
    appProbe?.close();
    busyPolicy?.close();
    loadReporter.close();
    identity.close();
    await tracing.close();
    await accessLog?.flush();
    for (const l of allListeners()) l.close();
    admin?.server.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void drain('SIGTERM'));
  process.once('SIGINT', () => void drain('SIGINT'));
  // A worker whose primary is gone (killed, crashed) drains and exits rather than serve unsupervised.
  if (worker) process.once('disconnect', () => void drain('primary gone'));
  // The ready line last, once the signal handlers are in place: a script that stops the sidecar as
  // soon as it reads the line must not meet the default action (killed, not drained).
  if (gatewayMode) {
    process.stdout.write(`ready id=${id} gateway=${a.gateway} admin=${admin!.address.address}:${admin!.address.port} pid=${process.pid}\n`);
    log.info({ gateway: a.gateway, admin: admin?.address.port ?? null, controlPlane: a['control-plane'] }, 'gateway started; listeners follow the Gateway');
  } else {
    if (worker) announceListening(id, outAddr!, inAddr!);
    else process.stdout.write(`ready id=${id} outbound=${outAddr!.address}:${outAddr!.port} inbound=${inAddr!.address}:${inAddr!.port} admin=${admin!.address.address}:${admin!.address.port} pid=${process.pid}\n`);
    log.info({ outbound: outAddr!.port, inbound: inAddr!.port, admin: admin?.address.port ?? null, controlPlane: a['control-plane'] }, 'sidecar listening');
  }
}
