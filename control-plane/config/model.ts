/**
 * The mesh model: the accepted resources indexed the way the translator reads them, built by
 * walking the kind definitions (kinds/index.ts). Types are in types.ts, which imports nothing back.
 */
import { KIND_DEFINITIONS, type ModelBuilder } from './kinds/index.js';
import { DEFAULT_MESH_CONFIG } from './kinds/mesh-config.js';
import { resourceKey, sortedByKey } from './resource-key.js';
import type { MeshModel, MeshResource, ResourceKey } from './types.js';

export { KINDS } from './kinds/index.js';
export { DEFAULT_MESH_CONFIG } from './kinds/mesh-config.js';
export { resourceKey } from './resource-key.js';

export function buildModel(revision: number, resources: Iterable<MeshResource>): MeshModel {
  const steps = buildModelSteps(revision, resources);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Resources indexed between two yields of buildModelSteps. */
const MODEL_STEP = 512;

/**
 * buildModel as steps: yields every MODEL_STEP resources, so that a caller on the event loop can
 * build the model of 20,000 resources (tens of milliseconds) in slices.
 */
export function* buildModelSteps(revision: number, resources: Iterable<MeshResource>): Generator<void, MeshModel> {
  const all = new Map<ResourceKey, MeshResource>();
  const b: ModelBuilder = {
    services: new Map(),
    httpRoutes: [],
    grpcRoutes: [],
    tcpRoutes: [],
    tlsRoutes: [],
    trafficPolicies: new Map(),
    authorizationPolicies: [],
    grpcTranslations: new Map(),
    faultPolicies: new Map(),
    corsPolicies: new Map(),
    cachePolicies: new Map(),
    gateways: new Map(),
    secrets: new Map(),
    compressionPolicies: new Map(),
    clientTrafficPolicies: new Map(),
    securityHeadersPolicies: new Map(),
    jwtPolicies: new Map(),
    consumers: new Map(),
    apiKeyPolicies: new Map(),
    apiLifecyclePolicies: new Map(),
    validationPolicies: new Map(),
    transformationPolicies: new Map(),
    aggregationPolicies: new Map(),
    rateLimitPolicies: new Map(),
    mesh: DEFAULT_MESH_CONFIG,
  };
  const defs = new Map(KIND_DEFINITIONS.map((d) => [d.kind, d.addToModel as (b: ModelBuilder, r: MeshResource) => void]));
  let n = 0;
  for (const r of resources) {
    if (++n % MODEL_STEP === 0) yield;
    all.set(resourceKey(r), r);
    defs.get(r.kind)!(b, r);
  }
  return {
    revision,
    resources: all,
    services: b.services,
    httpRoutes: sortedByKey(b.httpRoutes),
    grpcRoutes: sortedByKey(b.grpcRoutes),
    tcpRoutes: sortedByKey(b.tcpRoutes),
    tlsRoutes: sortedByKey(b.tlsRoutes),
    trafficPolicies: b.trafficPolicies,
    authorizationPolicies: sortedByKey(b.authorizationPolicies),
    grpcTranslations: b.grpcTranslations,
    faultPolicies: b.faultPolicies,
    corsPolicies: b.corsPolicies,
    cachePolicies: b.cachePolicies,
    gateways: b.gateways,
    secrets: b.secrets,
    compressionPolicies: b.compressionPolicies,
    clientTrafficPolicies: b.clientTrafficPolicies,
    securityHeadersPolicies: b.securityHeadersPolicies,
    jwtPolicies: b.jwtPolicies,
    consumers: b.consumers,
    apiKeyPolicies: b.apiKeyPolicies,
    apiLifecyclePolicies: b.apiLifecyclePolicies,
    validationPolicies: b.validationPolicies,
    transformationPolicies: b.transformationPolicies,
    aggregationPolicies: b.aggregationPolicies,
    rateLimitPolicies: b.rateLimitPolicies,
    mesh: b.mesh,
  };
}
