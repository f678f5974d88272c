/** TrafficPolicy: balancing, subsets, connection limits, outlier detection, health checks, retries. */
import type { TrafficPolicySpec, LoadBalancerConfig, RetryBudget } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { cleanRetry, readRetry } from './route-common.js';
import { isTcpService } from './service.js';
import type { Obj } from '../schema.js';

/** The spec of a resource's source document, or an empty one. */
function rawSpec(source: Record<string, unknown> | undefined): Obj {
  const s = source?.spec;
  return s !== null && typeof s === 'object' && !Array.isArray(s) ? (s as Obj) : {};
}

/** A field of a raw object (undefined when absent, null, or the parent is not an object). */
function field(v: unknown, k: string): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
  const x = (v as Obj)[k];
  return x === null ? undefined : x;
}

/**
 * The HTTP-only parts of a TrafficPolicy, refused on a tcp service, whose sidecars carry
 * connections with tcp_proxy: there are no requests to count, time, retry or hash by header.
 */
const TCP_REFUSED: ReadonlyArray<readonly [path: readonly string[], why: string]> = [
  [['connectionPool', 'maxPendingRequests'], 'a tcp service has no requests (limit connections with maxConnections)'],
  [['connectionPool', 'maxRequests'], 'a tcp service has no requests (limit connections with maxConnections)'],
  [['connectionPool', 'maxRetries'], 'a tcp service has no requests to retry (retry.attempts sets the connect attempts, the first included)'],
  [['retry', 'retryOn'], 'a tcp service has no requests: a failed connect is retried (retry.attempts), nothing else'],
  [['retry', 'codes'], 'a tcp service has no requests, so no status codes'],
  [['retry', 'perTryTimeout'], 'a tcp service has no requests (connectionPool.connectTimeout bounds each connect attempt)'],
  [['retry', 'backoff'], 'a tcp service has no requests: connect attempts follow one another at once'],
  [['retry', 'budget'], 'a tcp service has no requests to retry'],
  [['timeout'], 'a tcp service has no requests (connectionPool.idleTimeout closes idle connections)'],
  [['loadBalancer', 'choiceCount'], 'a tcp service balances LeastRequest by the open connections of every endpoint (a full scan): connections live long, so sampling two is not worth its error'],
  [['healthCheck', 'path'], 'a tcp service has no requests: its health check is a TCP connect'],
  [['healthCheck', 'expectedStatuses'], 'a tcp service has no requests: its health check is a TCP connect, with no status'],
];

function tcpRefusals(raw: Obj, ctx: { err(path: string, message: string): void }): void {
  for (const [path, why] of TCP_REFUSED) {
    let v: unknown = raw;
    for (const k of path) v = field(v, k);
    if (v !== undefined) ctx.err(`spec.${path.join('.')}`, why);
  }
  const hashOn = field(field(field(raw, 'loadBalancer'), 'ringHash'), 'hashOn');
  if (hashOn === 'header' || hashOn === 'cookie') ctx.err('spec.loadBalancer.ringHash.hashOn', `a tcp service has no requests, so no ${hashOn} to hash on: use sourceIP`);
}

/** max_retries when not set: Envoy's circuit breaker effectively off (uint32 max), like Istio. */
export const UNLIMITED_RETRIES = 4294967295;

export function readTrafficPolicy(r: Reader, v: unknown, ns: string): TrafficPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['targetRef', 'loadBalancer', 'subsets', 'connectionPool', 'outlierDetection', 'healthCheck', 'retry', 'timeout'], ['targetRef']);
  if (!o) return undefined;
  const t = r.obj(o.targetRef, 'spec.targetRef', ['group', 'kind', 'name', 'namespace'], ['name']);
  if (t) r.str(t.kind, 'spec.targetRef.kind', { oneOf: ['Service'] });
  const targetName = t && r.dnsLabel(t.name, 'spec.targetRef.name');
  const targetNs = t && (t.namespace === undefined ? ns : r.dnsLabel(t.namespace, 'spec.targetRef.namespace'));

  const lbo = r.obj(o.loadBalancer, 'spec.loadBalancer', ['type', 'ringHash', 'choiceCount', 'localityAware', 'panicThresholdPercent']) ?? {};
  const type = (r.str(lbo.type, 'spec.loadBalancer.type', { oneOf: ['RoundRobin', 'LeastRequest', 'Random', 'RingHash'] }) ?? 'RoundRobin') as LoadBalancerConfig['type'];
  const loadBalancer: LoadBalancerConfig = {
    type,
    choiceCount: r.int(lbo.choiceCount, 'spec.loadBalancer.choiceCount', 2, 100) ?? 2,
    localityAware: r.bool(lbo.localityAware, 'spec.loadBalancer.localityAware') ?? false,
    panicThresholdPercent: r.int(lbo.panicThresholdPercent, 'spec.loadBalancer.panicThresholdPercent', 0, 100) ?? 50,
  };
  if (type === 'RingHash') {
    const p = 'spec.loadBalancer.ringHash';
    if (lbo.ringHash === undefined) r.err(p, "is required when type is 'RingHash'");
    const rh = r.obj(lbo.ringHash, p, ['hashOn', 'header', 'cookie', 'minRingSize', 'maxRingSize'], ['hashOn']);
    if (rh) {
      const hashOn = r.str(rh.hashOn, `${p}.hashOn`, { required: true, oneOf: ['header', 'cookie', 'sourceIP'] }) as 'header' | 'cookie' | 'sourceIP' | undefined;
      const minRingSize = r.int(rh.minRingSize, `${p}.minRingSize`, 1, 8_388_608) ?? 1024;
      const maxRingSize = r.int(rh.maxRingSize, `${p}.maxRingSize`, 1, 8_388_608) ?? 8_388_608;
      if (minRingSize > maxRingSize) r.err(`${p}.maxRingSize`, 'must not be less than minRingSize');
      loadBalancer.ringHash = { hashOn: hashOn ?? 'sourceIP', minRingSize, maxRingSize };
      if (hashOn === 'header') {
        const h = rh.header === undefined ? (r.err(`${p}.header`, "is required when hashOn is 'header'"), undefined) : r.headerName(rh.header, `${p}.header`);
        if (h) loadBalancer.ringHash.header = h.toLowerCase();
      }
      if (hashOn === 'cookie') {
        const c = r.obj(rh.cookie, `${p}.cookie`, ['name', 'ttl', 'path'], ['name']);
        const name = c && r.str(c.name, `${p}.cookie.name`, { required: true, pattern: /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, patternHelp: 'a cookie name' });
        if (c && name) {
          const ttl = r.duration(c.ttl, `${p}.cookie.ttl`);
          const path = r.str(c.path, `${p}.cookie.path`, { pattern: /^\//, patternHelp: 'a path starting with /' });
          loadBalancer.ringHash.cookie = { name, ...(ttl !== undefined ? { ttlMs: ttl } : {}), ...(path ? { path } : {}) };
        }
      }
    }
  } else if (lbo.ringHash !== undefined) r.err('spec.loadBalancer.ringHash', "only allowed with type 'RingHash'");

  const seen = new Set<string>();
  const subsets = r.arr(o.subsets, 'spec.subsets', (x, p) => {
    const so = r.obj(x, p, ['name', 'labels'], ['name', 'labels']);
    const name = so && r.dnsLabel(so.name, `${p}.name`);
    const labels = so ? r.labels(so.labels, `${p}.labels`) : {};
    if (so && Object.keys(labels).length === 0) r.err(`${p}.labels`, 'must select at least one label');
    if (name && seen.has(name)) r.err(`${p}.name`, `duplicate subset '${name}'`);
    if (name) seen.add(name);
    return name ? { name, labels } : undefined;
  });

  const spec: TrafficPolicySpec = { targetRef: { kind: 'Service', name: targetName ?? '', namespace: targetNs ?? ns }, loadBalancer, subsets };
  // Concurrent retries per cluster: not limited unless asked (as Istio does). Envoy's default of
  // 3 turns every burst of more than 3 failures at once (an instance dying under load) into 503s;
  // each request's own attempts still bound the amplification, and retryBudget caps it by load.
  const cp = r.obj(o.connectionPool, 'spec.connectionPool', ['maxConnections', 'maxPendingRequests', 'maxRequests', 'maxRetries', 'connectTimeout', 'idleTimeout', 'keepalive']);
  if (cp) {
    const q = 'spec.connectionPool';
    spec.connectionPool = {
      maxConnections: r.int(cp.maxConnections, `${q}.maxConnections`, 1, 1_000_000) ?? 1024,
      maxPendingRequests: r.int(cp.maxPendingRequests, `${q}.maxPendingRequests`, 1, 1_000_000) ?? 1024,
      maxRequests: r.int(cp.maxRequests, `${q}.maxRequests`, 1, 1_000_000) ?? 1024,
      maxRetries: r.int(cp.maxRetries, `${q}.maxRetries`, 0, 1_000_000) ?? UNLIMITED_RETRIES,
      connectTimeoutMs: r.duration(cp.connectTimeout, `${q}.connectTimeout`, { min: 1 }) ?? 5000,
    };
    const idle = r.duration(cp.idleTimeout, `${q}.idleTimeout`, { min: 1 });
    if (idle !== undefined) spec.connectionPool.idleTimeoutMs = idle;
    const ka = r.obj(cp.keepalive, `${q}.keepalive`, ['interval', 'timeout'], ['interval']);
    if (ka) {
      const intervalMs = r.duration(ka.interval, `${q}.keepalive.interval`, { min: 1 });
      // gRPC's default keepalive timeout.
      const timeoutMs = r.duration(ka.timeout, `${q}.keepalive.timeout`, { min: 1 }) ?? 20_000;
      if (intervalMs !== undefined) spec.connectionPool.keepalive = { intervalMs, timeoutMs };
    }
  }
  const od = r.obj(o.outlierDetection, 'spec.outlierDetection', ['consecutive5xx', 'consecutiveGatewayErrors', 'interval', 'baseEjectionTime', 'maxEjectionPercent']);
  if (od) {
    const q = 'spec.outlierDetection';
    spec.outlierDetection = {
      consecutive5xx: r.int(od.consecutive5xx, `${q}.consecutive5xx`, 1, 1000) ?? 5,
      consecutiveGatewayErrors: r.int(od.consecutiveGatewayErrors, `${q}.consecutiveGatewayErrors`, 1, 1000) ?? 5,
      intervalMs: r.duration(od.interval, `${q}.interval`, { min: 1 }) ?? 10_000,
      baseEjectionTimeMs: r.duration(od.baseEjectionTime, `${q}.baseEjectionTime`, { min: 1 }) ?? 30_000,
      maxEjectionPercent: r.int(od.maxEjectionPercent, `${q}.maxEjectionPercent`, 0, 100) ?? 10,
    };
  }
  // `path` is required of an HTTP service's check and refused for a tcp service's (a TCP connect):
  // which one the target is, only the references check knows (tcpRefusals, httpHealthCheckPath).
  const hc = r.obj(o.healthCheck, 'spec.healthCheck', ['path', 'interval', 'timeout', 'unhealthyThreshold', 'healthyThreshold', 'expectedStatuses']);
  if (hc) {
    const q = 'spec.healthCheck';
    const statuses = r.arr(hc.expectedStatuses, `${q}.expectedStatuses`, (x, p) => {
      const so = r.obj(x, p, ['start', 'end'], ['start', 'end']);
      const start = so && r.int(so.start, `${p}.start`, 100, 599);
      const end = so && r.int(so.end, `${p}.end`, 101, 600);
      if (start !== undefined && end !== undefined && end <= start) r.err(`${p}.end`, 'must be greater than start');
      return start !== undefined && end !== undefined ? ([start, end] as [number, number]) : undefined;
    });
    const path = r.str(hc.path, `${q}.path`, { pattern: /^\//, patternHelp: 'a path starting with /' });
    spec.healthCheck = {
      ...(path !== undefined ? { path } : {}),
      intervalMs: r.duration(hc.interval, `${q}.interval`, { min: 1 }) ?? 10_000,
      timeoutMs: r.duration(hc.timeout, `${q}.timeout`, { min: 1 }) ?? 1000,
      unhealthyThreshold: r.int(hc.unhealthyThreshold, `${q}.unhealthyThreshold`, 1, 100) ?? 2,
      healthyThreshold: r.int(hc.healthyThreshold, `${q}.healthyThreshold`, 1, 100) ?? 2,
      expectedStatuses: statuses.length ? statuses : [[200, 400]],
    };
  }
  const retry = readRetry(r, o.retry, 'spec.retry', ['budget']);
  if (retry) {
    const bo = r.obj(retry._o.budget, 'spec.retry.budget', ['percent', 'minRetryConcurrency']);
    const clean = cleanRetry(retry)!;
    spec.retry = clean;
    if (bo) {
      const budget: RetryBudget = {
        budgetPercent: r.int(bo.percent, 'spec.retry.budget.percent', 0, 100) ?? 20,
        minRetryConcurrency: r.int(bo.minRetryConcurrency, 'spec.retry.budget.minRetryConcurrency', 0, 100_000) ?? 3,
      };
      spec.retry = { ...clean, budget };
    }
  }
  const timeout = r.duration(o.timeout, 'spec.timeout', { min: 1 });
  if (timeout !== undefined) spec.timeoutMs = timeout;
  return spec;
}

export const trafficPolicyKind: KindDefinition<'TrafficPolicy'> = {
  kind: 'TrafficPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'trafficpolicies',
  shortNames: ['tp'],
  read: (r, spec, ns) => readTrafficPolicy(r, spec, ns),
  references(res, ctx) {
    const t = res.spec.targetRef;
    const svc = ctx.model.services.get(`Service/${t.namespace}/${t.name}`);
    if (!svc) return ctx.err('spec.targetRef.name', `Service ${t.namespace}/${t.name} does not exist`);
    // The raw spec as applied: the reader fills defaults (maxRequests 1024, retryOn 5xx...) that
    // are no mistake of the user's; only what was written is refused.
    const raw = rawSpec(res.source);
    if (field(field(raw, 'connectionPool'), 'keepalive') !== undefined && !svc.spec.ports.some((p) => p.protocol === 'grpc' || p.protocol === 'http2')) {
      ctx.err('spec.connectionPool.keepalive', `keepalive PINGs are HTTP/2: Service ${t.namespace}/${t.name} has no grpc or http2 port`);
    }
    if (isTcpService(svc)) tcpRefusals(raw, ctx);
    else if (raw.healthCheck !== undefined && raw.healthCheck !== null && field(raw.healthCheck, 'path') === undefined) {
      ctx.err('spec.healthCheck.path', 'is required: an HTTP health check requests this path (only a tcp service\'s check, a TCP connect, has none)');
    }
  },
  onePer: { path: 'spec.targetRef', target: (res) => `Service ${res.spec.targetRef.namespace}/${res.spec.targetRef.name}` },
  addToModel: (b, res) => void b.trafficPolicies.set(`Service/${res.spec.targetRef.namespace}/${res.spec.targetRef.name}`, res),
  summary: (res) => `target ${res.spec.targetRef.name}; lb ${res.spec.loadBalancer.type}; subsets ${res.spec.subsets.length}`,
};
