/**
 * `weft explain METHOD URL --from SERVICE`: what the mesh does with a request, hop by hop, as the
 * proxies would decide it now. The first hop is the caller's sidecar (its outbound listener); then,
 * for each cluster the route may send to, the destination's sidecar (its inbound listener), where
 * authorization and the other inbound policies run, seeing the caller's identity.
 *
 * Each hop is computed by the sidecar's own code (sidecar/explain/explain.ts) on the resources the
 * control plane serves that proxy (the snapshot of a connected proxy of the service, or, with none
 * connected here, the snapshot a new one would get), decoded by the sidecar's decoders. Endpoint
 * health is EDS's view; a sidecar's `/explain` adds its active checks and ejections.
 */
import { KIND_BY_TYPE_URL } from '../common/xds-types.js';
import { WeftError } from '../common/errors.js';
import { ExplainInputError, explainListener, explainRequestOf, xdsConfigOf, type ExplainRequest } from '../sidecar/explain/explain.js';
import type { Explanation, ProxyHop } from '../sidecar/explain/types.js';

export type { Explanation, ProxyHop } from '../sidecar/explain/types.js';
import type { NodeInfo } from './xds/node.js';
import type { Snapshot } from './xds/snapshot.js';
import { spiffeId } from './translate/tls.js';
import type { MeshModel } from './config/types.js';

export interface ExplainQuery {
  method: string;
  url: string;
  from: string;
  namespace: string;
  /** `name: value` lines. */
  headers: readonly string[];
  /** A node id: explain as this proxy (it must be connected here and be of `from`). */
  proxy?: string;
}

/** What explaining needs of the control plane. */
export interface ExplainSource {
  readonly model: MeshModel;
  connectedNodes(): NodeInfo[];
  /** The snapshot a connected proxy is served now. */
  snapshotOf(nodeId: string): Snapshot | undefined;
  /** The snapshot the current config gives a proxy that is not connected (nothing is registered). */
  previewSnapshot(node: NodeInfo): Snapshot;
}

export function explain(src: ExplainSource, q: ExplainQuery): Explanation {
  let r: ExplainRequest;
  try {
    r = explainRequestOf(q.method, q.url, q.headers);
  } catch (e) {
    throw e instanceof ExplainInputError ? new WeftError('ADMIN_BAD_REQUEST', e.message) : e;
  }
  const { method, headers } = r;
  const target = { authority: r.authority, path: r.path, search: r.search };
  const from = pick(src, q.from, q.namespace, q.proxy);
  const outbound = hop(src, from, 'outbound', { method, ...target, headers });
  const hops: ProxyHop[] = [outbound];
  const a = outbound.action;
  if (a?.kind === 'forward' && !outbound.refusedBy) {
    const seen = new Set<string>();
    for (const c of a.clusters) {
      const dest = destinationOf(src, c.name);
      if (!dest || seen.has(`${dest.namespace}/${dest.service}`)) continue;
      seen.add(`${dest.namespace}/${dest.service}`);
      const to = pick(src, dest.service, dest.namespace, undefined);
      const principal = c.tls && c.tls !== 'plaintext' ? (from.node.peerId ?? spiffeId(src.model.mesh.trustDomain, from.node.namespace, from.node.service ?? q.from)) : undefined;
      const path = a.upstreamPath.replace(/\?.*$/, '');
      // What the caller's sidecar sends: the route's header changes applied, and its Host.
      const sent: Record<string, string> = Object.create(null) as Record<string, string>;
      for (const [k, v] of Object.entries(a.upstreamHeaders)) if (k !== 'host') sent[k] = v;
      hops.push(hop(src, to, 'inbound', { method, authority: a.upstreamHeaders.host ?? a.hostRewrite ?? target.authority, path, search: target.search, headers: sent, ...(principal ? { principal } : {}) }));
    }
  }
  return { request: { method, url: q.url, from: q.from, namespace: q.namespace }, hops };
}

interface Picked {
  node: NodeInfo;
  snapshot: Snapshot;
  connected: boolean;
}

/** A proxy of the service: the named one, else a connected one (lowest id), else a new one's preview. */
function pick(src: ExplainSource, service: string, namespace: string, proxy: string | undefined): Picked {
  if (!src.model.services.has(`Service/${namespace}/${service}`)) {
    throw new WeftError('CONFIG_NOT_FOUND', `no Service ${service} in namespace ${namespace} (list them with \`weft get service -A\`)`);
  }
  const nodes = src.connectedNodes().filter((n) => n.role === 'sidecar' && n.service === service && n.namespace === namespace);
  let node: NodeInfo | undefined;
  if (proxy) {
    node = src.connectedNodes().find((n) => n.id === proxy);
    if (!node) throw new WeftError('CONFIG_NOT_FOUND', `no proxy '${proxy}' is connected to this control-plane replica (see \`weft proxy-status\`)`);
    if (node.service !== service || node.namespace !== namespace) throw new WeftError('ADMIN_BAD_REQUEST', `proxy '${proxy}' is a proxy of ${node.service ?? '(no service)'}.${node.namespace}, not of ${service}.${namespace}`);
  } else node = nodes.sort((x, y) => (x.id < y.id ? -1 : 1))[0];
  const snapshot = node ? src.snapshotOf(node.id) : undefined;
  if (node && snapshot) return { node, snapshot, connected: true };
  const svc = src.model.services.get(`Service/${namespace}/${service}`)!;
  const port = svc.spec.ports[0];
  const preview: NodeInfo = {
    id: `(new ${service} sidecar)`,
    cluster: '',
    role: 'sidecar',
    namespace,
    service,
    appPort: port?.port ?? 8080,
    appProtocol: port?.protocol === 'grpc' ? 'grpc' : port?.protocol === 'http2' ? 'http2' : 'http',
    labels: {},
    userAgent: 'weft-explain',
    peerId: spiffeId(src.model.mesh.trustDomain, namespace, service),
  };
  return { node: preview, snapshot: src.previewSnapshot(preview), connected: false };
}

function hop(src: ExplainSource, p: Picked, listener: 'outbound' | 'inbound', req: ExplainRequest): ProxyHop {
  const resources = [...p.snapshot.resources].flatMap(([typeUrl, set]) => [...set.values()].map((r) => ({ kind: KIND_BY_TYPE_URL.get(typeUrl)!, name: r.name, body: r.body })));
  const { config, nacks } = xdsConfigOf(resources);
  const h = explainListener(config, listener, req);
  return { ...h, proxy: p.node.id, service: `${p.node.service}.${p.node.namespace}`, connected: p.connected, nacks, revision: src.model.revision };
}

/** The service a cluster sends to, from its name (`outbound|<port>|<subset>|<service>.<namespace>`, translate/names.ts). */
function destinationOf(src: ExplainSource, cluster: string): { service: string; namespace: string } | undefined {
  const m = /^outbound\|\d+\|[^|]*\|([^|.]+)\.([^|]+)$/.exec(cluster);
  if (!m) return undefined;
  const [, service, namespace] = m as unknown as [string, string, string];
  return src.model.services.has(`Service/${namespace}/${service}`) ? { service, namespace } : undefined;
}
