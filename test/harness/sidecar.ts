/**
 * An in-process sidecar for request-path tests: the mesh YAML goes through the control plane's
 * validation and translator, the node's snapshot through the sidecar's xDS decoders (what a NACK
 * would refuse fails the test), and into a real Runtime served by real HttpListeners on loopback
 * port 0. Upstreams are in-process servers on port 0, named as static Service endpoints, so no
 * process is spawned and no certificate is made (the meshes here run mTLS DISABLE). A filter's
 * unit tests (test/unit/sidecar/filters/) send real requests through it in milliseconds.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatFieldError } from '../../common/errors.js';
import { SIDECAR_LISTENER, TYPE_URL, type ResourceKind, type TypeUrl } from '../../common/xds-types.js';
import { parseDocuments, validateApply } from '../../control-plane/config/index.js';
import { buildModel } from '../../control-plane/config/model.js';
import { Registry } from '../../control-plane/registry/registry.js';
import { Translator } from '../../control-plane/translate/index.js';
import type { NodeInfo } from '../../control-plane/xds/node.js';
import { HttpListener, type LimitEvent, type RequestObserver } from '../../sidecar/listeners/http-listener.js';
import type { Downstream } from '../../sidecar/http/downstream.js';
import { Runtime } from '../../sidecar/runtime.js';
import type { XdsConfig } from '../../sidecar/xds/ads-client.js';
import { DECODERS } from '../../sidecar/xds/types/index.js';
import type { SidecarListener } from '../../sidecar/xds/types/listener.js';
import type { Denial, FilterSpec, RequestHead } from '../../sidecar/http/filter.js';

const KIND_OF = new Map<string, ResourceKind>(Object.entries(TYPE_URL).map(([k, v]) => [v, k as ResourceKind]));

/** mTLS off: clusters and the inbound listener are plaintext, no CA is needed. */
export const PLAINTEXT_MESH = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: DISABLE }
`;

/** What a test sees of one finished request (the listener's observer). */
export interface Finished {
  listener: 'inbound' | 'outbound';
  status: number;
  route: string;
  cluster: string;
  weftError: string;
}

export interface InProcessSidecar {
  /** The outbound listener (the app's way into the mesh). */
  readonly outbound: number;
  /** The inbound listener (peers' way to the app), plaintext. */
  readonly inbound: number;
  readonly runtime: Runtime;
  /** Requests finished so far, in order. */
  readonly finished: Finished[];
  /** RBAC denials reported to the sidecar (what it logs). */
  readonly denials: Array<{ path: string; decision: Denial }>;
  /** Requests in flight on both listeners. */
  active(): number;
  /** Translates `yaml` again and applies it, as an xDS push would. */
  apply(yaml: readonly string[]): void;
  close(): Promise<void>;
}

export interface SidecarNode {
  /** Default sidecar. A gateway serves `gateway` (ns/name), with no inbound listener. */
  role?: 'sidecar' | 'gateway';
  gateway?: string;
  service: string;
  namespace?: string;
  /** Where the inbound listener sends requests (the app). */
  appPort: number;
  appProtocol?: 'http' | 'http2' | 'grpc';
}

/** The node's resources as the sidecar would accept them; throws with every decode error. */
export function translateFor(yaml: readonly string[], n: SidecarNode): XdsConfig {
  const { docs, errors } = parseDocuments(yaml.join('---\n'), 'harness.yaml');
  const v = validateApply(docs, buildModel(0, []));
  const problems = [...errors, ...v.errors].map(formatFieldError);
  if (problems.length) throw new Error(`the mesh does not validate:\n${problems.join('\n')}`);
  const model = buildModel(1, v.resources);
  const node: NodeInfo = { id: `${n.service}-1`, cluster: '', role: n.role ?? 'sidecar', namespace: n.namespace ?? 'default', service: n.service, appPort: n.appPort, appProtocol: n.appProtocol ?? 'http', labels: {}, userAgent: 'weft-test-harness', ...(n.gateway ? { gateway: n.gateway, peerId: `spiffe://cluster.local/ns/${n.gateway.replace('/', '/sa/')}` } : {}) };
  const snap = new Translator(model, new Registry()).snapshotFor(node);
  const out = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), secrets: new Map() } as Record<ResourceKind | 'listeners' | 'routes' | 'clusters' | 'endpoints' | 'secrets', Map<string, unknown>>;
  const slot: Record<ResourceKind, keyof typeof out> = { listener: 'listeners', route: 'routes', cluster: 'clusters', endpoint: 'endpoints', secret: 'secrets' };
  const nacks: string[] = [];
  for (const [typeUrl, byName] of snap.resources) {
    const kind = KIND_OF.get(typeUrl as TypeUrl)!;
    for (const r of byName.values()) {
      const d = DECODERS[kind](r.body);
      if (d.errors.length || d.value === undefined) nacks.push(...d.errors.map((e) => `${kind} ${r.name}: ${e.path}: ${e.message}`));
      else out[slot[kind]].set(d.name, d.value);
    }
  }
  if (nacks.length) throw new Error(`the sidecar would NACK:\n${nacks.join('\n')}`);
  return { listeners: out.listeners as Map<string, SidecarListener>, routes: out.routes, clusters: out.clusters, endpoints: out.endpoints, secrets: out.secrets, versions: {} } as XdsConfig;
}

export async function inProcessSidecar(yaml: readonly string[], node: SidecarNode): Promise<InProcessSidecar> {
  const finished: Finished[] = [];
  const denials: Array<{ path: string; decision: Denial }> = [];
  const runtime = new Runtime(node.appProtocol ?? 'http', undefined, undefined, (req: RequestHead, decision: Denial) => denials.push({ path: req.path, decision }));
  runtime.apply(translateFor(yaml, node));
  const observer = (listener: 'inbound' | 'outbound') => (d: Downstream, status: number) => finished.push({ listener, status, route: d.info.routeName, cluster: d.info.clusterName, weftError: d.info.weftError });
  const out = new HttpListener({ name: SIDECAR_LISTENER.outbound, host: '127.0.0.1', port: 0, observer: observer('outbound') }, runtime.contextFor(SIDECAR_LISTENER.outbound));
  const inb = new HttpListener({ name: SIDECAR_LISTENER.inbound, host: '127.0.0.1', port: 0, observer: observer('inbound') }, runtime.contextFor(SIDECAR_LISTENER.inbound));
  const [o, i] = await Promise.all([out.listen(), inb.listen()]);
  return {
    outbound: o.port,
    inbound: i.port,
    runtime,
    finished,
    denials,
    active: () => out.stats.rqActive + inb.stats.rqActive,
    apply: (y) => runtime.apply(translateFor(y, node)),
    close: async () => {
      out.close();
      inb.close();
      runtime.close();
    },
  };
}

export interface InProcessGateway {
  /** Gateway listener name (the Gateway's, e.g. `web`) -> the loopback port it is bound to. */
  readonly ports: ReadonlyMap<string, number>;
  /** The port of the only listener, or of `name`. */
  port(name?: string): number;
  readonly runtime: Runtime;
  readonly finished: Finished[];
  /** Connections a limit refused or closed outside any request (the listeners' onLimit), in order. */
  readonly limitEvents: LimitEvent[];
  /** Gateway listener name -> its HttpListener (stats). */
  readonly listeners: ReadonlyMap<string, HttpListener>;
  apply(yaml: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * An in-process `weft gateway` for Gateway `gateway` (ns/name): each of its listeners is bound
 * on 127.0.0.1 port 0 (not the Gateway's port) and serves the chain the runtime composed for it.
 * Listeners the first translation does not have are not bound later.
 */
export async function inProcessGateway(
  yaml: readonly string[],
  gateway: string,
  o: {
    service?: string;
    /** Told about every finished request, as the proxy's metrics and load reports are (after `finished` is filled). */
    observer?: RequestObserver;
    /** A test-only filter put first in every listener's chain (e.g. consumer-filter.ts). */
    prepend?: FilterSpec;
  } = {},
): Promise<InProcessGateway> {
  const node: SidecarNode = { role: 'gateway', gateway, service: o.service ?? 'edge', namespace: gateway.split('/')[0], appPort: 1 };
  const finished: Finished[] = [];
  const limitEvents: LimitEvent[] = [];
  const runtime = new Runtime('http', undefined, undefined, undefined, undefined);
  const withPrepend = (c: XdsConfig): XdsConfig => {
    const p = o.prepend;
    if (!p) return c;
    const listeners = new Map([...c.listeners].map(([k, l]) => [k, l.kind === 'tcp' ? l : { ...l, filters: [p, ...l.filters], ...(l.edge ? { edge: l.edge.map((e) => ({ ...e, filters: [p, ...e.filters] })) } : {}) }]));
    return { ...c, listeners } as XdsConfig;
  };
  const cfg = withPrepend(translateFor(yaml, node));
  runtime.apply(cfg);
  const listeners: HttpListener[] = [];
  const byName = new Map<string, HttpListener>();
  const ports = new Map<string, number>();
  for (const name of cfg.listeners.keys()) {
    if (!name.startsWith('gateway.')) continue;
    const l = new HttpListener(
      {
        name,
        host: '127.0.0.1',
        port: 0,
        edge: runtime.edgeFor(name),
        observer: (d: Downstream, status: number, grpc: number, ms: number) => {
          finished.push({ listener: 'outbound', status, route: d.info.routeName, cluster: d.info.clusterName, weftError: d.info.weftError });
          o.observer?.(d, status, grpc, ms);
        },
        onLimit: (e) => limitEvents.push(e),
      },
      runtime.contextFor(name),
    );
    listeners.push(l);
    byName.set(name.slice('gateway.'.length), l);
    ports.set(name.slice('gateway.'.length), (await l.listen()).port);
  }
  return {
    ports,
    limitEvents,
    listeners: byName,
    port(name?: string) {
      if (name === undefined && ports.size !== 1) throw new Error(`the gateway has ${ports.size} listeners; name one`);
      const p = name === undefined ? [...ports.values()][0] : ports.get(name);
      if (p === undefined) throw new Error(`no gateway listener ${name}`);
      return p;
    },
    runtime,
    finished,
    apply: (y) => runtime.apply(withPrepend(translateFor(y, node))),
    close: async () => {
      for (const l of listeners) l.close();
      runtime.close();
    },
  };
}

/** A loopback HTTP server on port 0: every request is counted and answered by `handler`. */
export interface Upstream {
  readonly port: number;
  /** Requests received (method, url, headers), in order. */
  readonly seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; body: string }>;
  close(): Promise<void>;
}

export async function upstream(handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void = (_q, s) => s.end('ok')): Promise<Upstream> {
  const seen: Upstream['seen'] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  srv.keepAliveTimeout = 1000;
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** A Service whose instances are the given loopback ports (static endpoints, plain HTTP). */
export function service(name: string, ports: readonly number[], port = 8080, namespace = 'default'): string {
  return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name}, namespace: ${namespace} }
spec:
  ports: [{ name: http, port: ${port}, protocol: http }]
  endpoints: [${ports.map((p) => `{ address: 127.0.0.1, port: ${p} }`).join(', ')}]
`;
}

/**
 * A Gateway `edge` (class weft) with these listeners (protocol HTTP unless given) and an HTTPRoute
 * `api` attached to it: `rules` as YAML (flow or block, indented for its place), by default one
 * rule sending everything to Service orders, port 8080; `hostnames` for the route, if any.
 */
export function edgeGateway(listeners: ReadonlyArray<{ name: string; port: number; protocol?: string }>, rules = '[{ backendRefs: [{ name: orders, port: 8080 }] }]', hostnames: readonly string[] = []): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [${listeners.map((l) => `{ name: ${l.name}, port: ${l.port}, protocol: ${l.protocol ?? 'HTTP'} }`).join(', ')}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]${hostnames.length ? `\n  hostnames: [${hostnames.join(', ')}]` : ''}
  rules: ${rules}
`;
}

/** One request through a listener: status, headers, body and how long it took. */
export async function send(port: number, path: string, o: { host?: string; method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; raw: Buffer; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: { host: o.host ?? 'orders', ...o.headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: raw.toString(), raw, ms: performance.now() - t0 });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
