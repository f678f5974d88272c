/**
 * Which connected proxies a configuration resource affects (GET /v1/resources/K/NS/N/proxies).
 *
 * Chosen by service, then checked against each proxy's current snapshot. A resource's targets are
 * the Services and Gateways it names (its own name for a Service or Gateway; every
 * `{kind: Service|Gateway, name}` and every backendRef in its spec: parentRefs, backendRefs,
 * targetRef(s)). A resource that names neither (a policy used through a route's ExtensionRef, a
 * Secret a Gateway listener names) takes the targets of the resources of its namespace that name
 * it; MeshConfig affects every proxy. A proxy is affected when its snapshot holds a cluster of a
 * target service (`outbound|<port>||svc.ns`: it calls it; `inbound|<appPort>|svc.ns`: it is it — translate/names.ts)
 * or it serves a target Gateway. An AuthorizationPolicy or GRPCTranslation (`spec.service`) acts
 * on the inbound side only: the target's own sidecars. Every proxy holds a cluster for every
 * service it can reach (translate/translator.ts), so a change to a Service or its routes reaches
 * every such proxy, as it does in fact. This over-approximates (a route on one port also marks
 * callers of the service's other ports) but never misses a proxy whose xDS the resource can alter.
 */
import type { MeshModel, MeshResource } from '../config/types.js';
import type { NodeInfo } from '../xds/node.js';
import type { Snapshot } from '../xds/snapshot.js';
import { TYPE_URL } from '../../common/xds-types.js';
import { clusterName, inboundClusterName } from '../translate/names.js';
import type { AffectedProxy } from './wire.js';

export type { AffectedProxy };

interface Targets {
  all: boolean;
  /** Acts only where the services receive requests (an AuthorizationPolicy): their own sidecars. */
  inboundOnly: boolean;
  /** `<name>.<namespace>` */
  services: Set<string>;
  /** `<namespace>/<name>` */
  gateways: Set<string>;
}

const REF_KEYS = new Set(['backendRef', 'backendRefs', 'parentRefs', 'targetRef', 'targetRefs']);

/** Kinds that name their service as `spec.service` (a name in their namespace; '*': all there) and act on its inbound side. */
const INBOUND_KINDS: ReadonlySet<string> = new Set(['AuthorizationPolicy', 'GRPCTranslation']);

/** The Services and Gateways a resource names directly. */
function directTargets(r: MeshResource, out: Targets): void {
  const ns = r.metadata.namespace;
  if (r.kind === 'Service') out.services.add(`${r.metadata.name}.${ns}`);
  if (r.kind === 'Gateway') out.gateways.add(`${ns}/${r.metadata.name}`);
  const walk = (v: unknown, refKey: boolean): void => {
    if (Array.isArray(v)) return v.forEach((x) => walk(x, refKey));
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.name === 'string') {
      const where = typeof o.namespace === 'string' ? o.namespace : ns;
      if (o.kind === 'Gateway') out.gateways.add(`${where}/${o.name}`);
      else if (o.kind === 'Service' || (refKey && o.kind === undefined)) out.services.add(`${o.name}.${where}`);
    }
    for (const [k, x] of Object.entries(o)) walk(x, REF_KEYS.has(k));
  };
  walk((r as { spec?: unknown }).spec, false);
}

/** Whether `r`'s spec names `kind`/`name` anywhere (an ExtensionRef, a certificateRef, …). */
function names(r: MeshResource, kind: string, name: string): boolean {
  let found = false;
  const walk = (v: unknown): void => {
    if (found || !v || typeof v !== 'object') return;
    if (Array.isArray(v)) return v.forEach(walk);
    const o = v as Record<string, unknown>;
    if (o.kind === kind && o.name === name) found = true;
    else Object.values(o).forEach(walk);
  };
  walk((r as { spec?: unknown }).spec);
  return found;
}

export function targetsOf(model: MeshModel, r: MeshResource): Targets {
  const t: Targets = { all: r.kind === 'MeshConfig', inboundOnly: INBOUND_KINDS.has(r.kind), services: new Set(), gateways: new Set() };
  if (t.inboundOnly) {
    const ns = r.metadata.namespace;
    const name = (r as { spec?: { service?: unknown } }).spec?.service;
    for (const svc of model.services.values()) {
      if (svc.metadata.namespace === ns && (name === '*' || svc.metadata.name === name)) t.services.add(`${svc.metadata.name}.${ns}`);
    }
    return t;
  }
  directTargets(r, t);
  if (!t.all && !t.services.size && !t.gateways.size) {
    for (const other of model.resources.values()) {
      if (other !== r && other.metadata.namespace === r.metadata.namespace && names(other, r.kind, r.metadata.name)) directTargets(other, t);
    }
  }
  return t;
}

/** The connected proxies `r` affects, each with why (see the module comment). */
export function affectedProxies(model: MeshModel, r: MeshResource, nodes: readonly NodeInfo[], snapshotOf: (id: string) => Snapshot | undefined): AffectedProxy[] {
  const t = targetsOf(model, r);
  // The clusters that tie a proxy to a target service, named as the translator names them: one
  // per service port (outbound: the proxy calls it); a sidecar of the service also has its own
  // inbound cluster. Looked up by name: a proxy's snapshot holds a cluster per service it sees,
  // and scanning them all for 2,000 proxies took most of a second.
  const outbound: string[] = [];
  for (const svc of model.services.values()) {
    const { name, namespace } = svc.metadata;
    if (!t.inboundOnly && t.services.has(`${name}.${namespace}`)) for (const p of svc.spec.ports) outbound.push(clusterName(namespace, name, p.port));
  }
  const out: AffectedProxy[] = [];
  for (const n of nodes) {
    const via: string[] = [];
    if (t.all) via.push('mesh-wide configuration');
    if (n.gateway && t.gateways.has(n.gateway)) via.push(`serves Gateway ${n.gateway}`);
    const clusters = snapshotOf(n.id)?.resources.get(TYPE_URL.cluster);
    if (clusters) {
      if (n.service && n.appPort && t.services.has(`${n.service}.${n.namespace}`)) {
        const own = inboundClusterName(n.namespace, n.service, n.appPort);
        if (clusters.has(own)) via.push(`Cluster ${own}`);
      }
      for (const name of outbound) {
        if (via.length >= 3) break;
        if (clusters.has(name)) via.push(`Cluster ${name}`);
      }
    }
    if (via.length) out.push({ nodeId: n.id, role: n.role, ...(n.service ? { service: n.service } : {}), namespace: n.namespace, via });
  }
  return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
}
