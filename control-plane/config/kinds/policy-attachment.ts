/**
 * How Weft's policy kinds (weft.dev) attach to traffic, the two ways Gateway API users know:
 *
 * - **Per route rule**: an HTTPRoute / GRPCRoute rule names the policy in an `ExtensionRef`
 *   filter (group weft.dev, a kind listed in EXTENSION_REF_KINDS, a name in the route's
 *   namespace). At most one policy of each kind per rule.
 * - **Per Gateway or Gateway listener** (GEP-713 policy attachment): the policy's
 *   `spec.targetRefs` names Gateways of its namespace, optionally one listener (`sectionName`).
 *   For a listener, a policy naming the listener wins over one naming the whole Gateway; two
 *   policies of one kind naming the same target are refused at apply time (the Gateway API's
 *   oldest-wins rule would make the outcome depend on history).
 *
 * A rule's ExtensionRef overrides the Gateway's policy of the same kind for that rule's routes.
 * Adding a policy kind: its name in types.ts ExtensionRefKind (if routes may name it), its model
 * map in EXTENSION_REF_KINDS, and `readTargetRefs` / `targetRefReferences` in its definition (if
 * it may target Gateways).
 */
import type { ExtensionRefKind, GatewayListener, GatewayResource, MeshModel, PolicyTargetRef, ResourceKey } from '../types.js';
import type { Reader } from '../schema.js';
import type { ReferenceContext } from './kind.js';
import { GATEWAY_GROUP } from '../api-versions.js';
import { isL4Listener } from './gateway.js';
import { isTcpService } from './service.js';

/** The group of Weft's own kinds (Service is one): apiVersion weft.dev/v1alpha1. */
const WEFT_GROUP = 'weft.dev';

/** Each kind an ExtensionRef may name, and where the model keeps its resources (`Kind/ns/name`). */
export const EXTENSION_REF_KINDS: { readonly [K in ExtensionRefKind]: (m: MeshModel) => ReadonlyMap<ResourceKey, unknown> } = {
  FaultPolicy: (m) => m.faultPolicies,
  CorsPolicy: (m) => m.corsPolicies,
  CompressionPolicy: (m) => m.compressionPolicies,
  SecurityHeadersPolicy: (m) => m.securityHeadersPolicies,
  CachePolicy: (m) => m.cachePolicies,
  JwtPolicy: (m) => m.jwtPolicies,
  ApiKeyPolicy: (m) => m.apiKeyPolicies,
  ApiLifecyclePolicy: (m) => m.apiLifecyclePolicies,
  ValidationPolicy: (m) => m.validationPolicies,
  TransformationPolicy: (m) => m.transformationPolicies,
  AggregationPolicy: (m) => m.aggregationPolicies,
  RateLimitPolicy: (m) => m.rateLimitPolicies,
};

/**
 * Kinds that act only at gateways (their filter runs on gateway listeners): a rule naming one
 * needs a Gateway parentRef (on a route only the mesh serves, the reference would do nothing).
 */
export const GATEWAY_ONLY_EXTENSION_REF_KINDS: ReadonlySet<ExtensionRefKind> = new Set(['CorsPolicy', 'CompressionPolicy', 'ApiKeyPolicy']);

export const EXTENSION_REF_KIND_NAMES = Object.keys(EXTENSION_REF_KINDS) as ExtensionRefKind[];

/** The resource a rule's ExtensionRef to `kind`/`name` in namespace `ns` names, if it exists. */
export function extensionTarget<T>(m: MeshModel, kind: ExtensionRefKind, ns: string, name: string): T | undefined {
  return EXTENSION_REF_KINDS[kind](m).get(`${kind}/${ns}/${name}`) as T | undefined;
}

/** The policy of `kind` a rule's filters name (its ExtensionRef), if any. */
export function ruleExtension<T>(m: MeshModel, filters: readonly { type: string; extensionRef?: { kind: string; name: string } }[], kind: ExtensionRefKind, ns: string): T | undefined {
  for (const f of filters) if (f.type === 'ExtensionRef' && f.extensionRef!.kind === kind) return extensionTarget<T>(m, kind, ns, f.extensionRef!.name);
  return undefined;
}

// ------------------------------------------------------------------------------------ targetRefs

/**
 * `spec.targetRefs`: Gateways (of the policy's namespace), optionally one listener each; with
 * `services`, also Services of the policy's namespace (`{group: weft.dev, kind: Service, name}`):
 * the policy then runs on the inbound listener of that service's sidecars.
 */
export function readTargetRefs(r: Reader, v: unknown, p: string, opts: { required: boolean; services?: boolean }): PolicyTargetRef[] {
  if ((v === undefined || v === null) && !opts.required) return [];
  const seen = new Map<string, number>();
  let i = -1;
  return r.arr(v, p, (x, q) => {
    i++;
    const o = r.obj(x, q, ['group', 'kind', 'name', 'sectionName'], ['group', 'kind', 'name']);
    if (!o) return undefined;
    if (opts.services && o.kind === 'Service') {
      const group = r.str(o.group, `${q}.group`, { oneOf: [WEFT_GROUP] });
      const name = r.dnsLabel(o.name, `${q}.name`, false);
      if (o.sectionName !== undefined && o.sectionName !== null) r.err(`${q}.sectionName`, 'a Service target names the whole service (its sidecars\' inbound listener); sectionName is for Gateway listeners');
      if (!group || !name) return undefined;
      const key = `Service/${name}`;
      const other = seen.get(key);
      if (other !== undefined) r.err(q, `names the same target as ${p}[${other}]`);
      else seen.set(key, i);
      return { group: WEFT_GROUP, kind: 'Service', name };
    }
    const group = r.str(o.group, `${q}.group`, { oneOf: [GATEWAY_GROUP] });
    const kind = r.str(o.kind, `${q}.kind`, { oneOf: opts.services ? ['Gateway', 'Service'] : ['Gateway'] });
    const name = r.dnsLabel(o.name, `${q}.name`, false);
    const sectionName = o.sectionName === undefined || o.sectionName === null ? undefined : r.dnsLabel(o.sectionName, `${q}.sectionName`);
    if (!group || !kind || !name) return undefined;
    const key = `${name}/${sectionName ?? ''}`;
    const other = seen.get(key);
    if (other !== undefined) r.err(q, `names the same target as ${p}[${other}]`);
    else seen.set(key, i);
    return sectionName === undefined ? { group: GATEWAY_GROUP, kind: 'Gateway', name } : { group: GATEWAY_GROUP, kind: 'Gateway', name, sectionName };
  }, { nonEmpty: opts.required });
}

/** What attaching needs of a policy resource. */
export interface TargetingPolicy {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec: { readonly targetRefs: readonly PolicyTargetRef[] };
}

/**
 * The reference checks of `res.spec.targetRefs` (at `spec.targetRefs[i]`): the Gateway exists in
 * the policy's namespace, the listener it names exists, and no other policy of the same kind
 * (`others`, the model's resources of that kind) names the same target.
 */
export function targetRefReferences(res: TargetingPolicy, others: Iterable<TargetingPolicy>, ctx: ReferenceContext): void {
  const ns = res.metadata.namespace;
  res.spec.targetRefs.forEach((t, i) => {
    const p = `spec.targetRefs[${i}]`;
    if (t.kind === 'Service') {
      const svc = ctx.model.services.get(`Service/${ns}/${t.name}`);
      if (!svc) return ctx.err(`${p}.name`, `Service ${ns}/${t.name} does not exist (a policy targets Services of its own namespace)`);
      // Every targetRefs kind acts on HTTP requests; a tcp service's sidecars run tcp_proxy, no HTTP filter.
      if (isTcpService(svc)) return ctx.err(`${p}.name`, `Service ${ns}/${t.name} is a tcp service: it has no requests, so a ${res.kind} would never apply there`);
      for (const o of others) {
        if (o.metadata.namespace !== ns || o.metadata.name === res.metadata.name) continue;
        if (o.spec.targetRefs.some((x) => x.kind === 'Service' && x.name === t.name)) return ctx.err(p, `${res.kind} ${ns}/${o.metadata.name} already targets Service ${ns}/${t.name}; one ${res.kind} per target`);
      }
      return;
    }
    const gw = ctx.model.gateways.get(`Gateway/${ns}/${t.name}`);
    if (!gw) return ctx.err(`${p}.name`, `Gateway ${ns}/${t.name} does not exist (a policy targets Gateways of its own namespace)`);
    if (t.sectionName !== undefined && !gw.spec.listeners.some((l) => l.name === t.sectionName)) {
      return ctx.err(`${p}.sectionName`, `Gateway ${ns}/${t.name} has no listener '${t.sectionName}' (listeners: ${gw.spec.listeners.map((l) => l.name).join(', ')})`);
    }
    // TCP and TLS passthrough listeners carry connections, not requests: only a
    // ClientTrafficPolicy (its connection limits) applies to them.
    const targeted = gw.spec.listeners.filter((l) => t.sectionName === undefined || l.name === t.sectionName);
    if (res.kind !== 'ClientTrafficPolicy' && targeted.every(isL4Listener)) {
      return ctx.err(t.sectionName === undefined ? `${p}.name` : `${p}.sectionName`, `${t.sectionName === undefined ? `every listener of Gateway ${ns}/${t.name} is` : `listener '${t.sectionName}' of Gateway ${ns}/${t.name} is`} TCP or TLS passthrough: no requests, so a ${res.kind} would never apply there`);
    }
    for (const o of others) {
      if (o.metadata.namespace !== ns || o.metadata.name === res.metadata.name) continue;
      if (o.spec.targetRefs.some((x) => x.kind === 'Gateway' && x.name === t.name && x.sectionName === t.sectionName)) {
        const what = t.sectionName === undefined ? `Gateway ${ns}/${t.name}` : `listener '${t.sectionName}' of Gateway ${ns}/${t.name}`;
        return ctx.err(p, `${res.kind} ${ns}/${o.metadata.name} already targets ${what}; one ${res.kind} per target`);
      }
    }
  });
}

/**
 * The policy among `policies` that applies to listener `l` of `gw`: one naming the listener
 * (sectionName), else one naming the whole Gateway, else undefined.
 */
export function policyForListener<T extends TargetingPolicy>(policies: Iterable<T>, gw: GatewayResource, l: GatewayListener): T | undefined {
  const { name, namespace } = gw.metadata;
  let whole: T | undefined;
  for (const p of policies) {
    if (p.metadata.namespace !== namespace) continue;
    for (const t of p.spec.targetRefs) {
      if (t.kind !== 'Gateway' || t.name !== name) continue;
      if (t.sectionName === l.name) return p;
      if (t.sectionName === undefined) whole ??= p;
    }
  }
  return whole;
}

/** The policy among `policies` that targets Service `ns/service` (its sidecars' inbound listener), if any. */
export function policyForService<T extends TargetingPolicy>(policies: Iterable<T>, ns: string, service: string): T | undefined {
  for (const p of policies) {
    if (p.metadata.namespace !== ns) continue;
    if (p.spec.targetRefs.some((t) => t.kind === 'Service' && t.name === service)) return p;
  }
  return undefined;
}

/**
 * For policies that act on HTTP messages (validation, transformation): each Service target has a
 * port that is not gRPC (on a gRPC-only service the policy would never act: gRPC calls pass it).
 */
export function httpServiceTargets(res: TargetingPolicy, ctx: ReferenceContext): void {
  res.spec.targetRefs.forEach((t, i) => {
    if (t.kind !== 'Service') return;
    const svc = ctx.model.services.get(`Service/${res.metadata.namespace}/${t.name}`);
    if (svc && svc.spec.ports.every((p) => p.protocol === 'grpc')) ctx.err(`spec.targetRefs[${i}].name`, `Service ${res.metadata.namespace}/${t.name} serves gRPC only; a ${res.kind} acts on HTTP requests and would never apply there`);
  });
}
