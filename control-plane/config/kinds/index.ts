/**
 * The kind registry: every config kind's definition, in the order kinds are listed (validation
 * messages, `weft get` help). Validation, the model builder and the CLI walk this list.
 */
import type { Kind, MeshModel, MeshResource } from '../types.js';
import type { KindDefinition } from './kind.js';
import { serviceKind } from './service.js';
import { httpRouteKind } from './http-route.js';
import { grpcRouteKind } from './grpc-route.js';
import { tcpRouteKind } from './tcp-route.js';
import { tlsRouteKind } from './tls-route.js';
import { trafficPolicyKind } from './traffic-policy.js';
import { authorizationPolicyKind } from './authorization-policy.js';
import { grpcTranslationKind } from './grpc-translation.js';
import { meshConfigKind } from './mesh-config.js';
import { faultPolicyKind } from './fault-policy.js';
import { corsPolicyKind } from './cors-policy.js';
import { cachePolicyKind } from './cache-policy.js';
import { gatewayKind } from './gateway.js';
import { secretKind } from './secret.js';
import { compressionPolicyKind } from './compression-policy.js';
import { clientTrafficPolicyKind } from './client-traffic-policy.js';
import { securityHeadersPolicyKind } from './security-headers-policy.js';
import { jwtPolicyKind } from './jwt-policy.js';
import { consumerKind } from './consumer.js';
import { apiKeyPolicyKind } from './api-key-policy.js';
import { apiLifecyclePolicyKind } from './api-lifecycle-policy.js';
import { validationPolicyKind } from './validation-policy.js';
import { transformationPolicyKind } from './transformation-policy.js';
import { aggregationPolicyKind } from './aggregation-policy.js';
import { rateLimitPolicyKind } from './rate-limit-policy.js';

type AnyKindDefinition = { [K in Kind]: KindDefinition<K> }[Kind];

export const KIND_DEFINITIONS = Object.freeze([
  serviceKind,
  httpRouteKind,
  grpcRouteKind,
  trafficPolicyKind,
  authorizationPolicyKind,
  grpcTranslationKind,
  meshConfigKind,
  faultPolicyKind,
  corsPolicyKind,
  cachePolicyKind,
  gatewayKind,
  secretKind,
  compressionPolicyKind,
  clientTrafficPolicyKind,
  securityHeadersPolicyKind,
  tcpRouteKind,
  tlsRouteKind,
  jwtPolicyKind,
  consumerKind,
  apiKeyPolicyKind,
  apiLifecyclePolicyKind,
  validationPolicyKind,
  transformationPolicyKind,
  aggregationPolicyKind,
  rateLimitPolicyKind,
] as const satisfies readonly AnyKindDefinition[]);

// Every Kind has a definition (a compile error names the missing one).
type Missing = Exclude<Kind, (typeof KIND_DEFINITIONS)[number]['kind']>;
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;

/** Every kind, in list order. */
export const KINDS: readonly Kind[] = Object.freeze(KIND_DEFINITIONS.map((d) => d.kind));

const BY_KIND = new Map<Kind, KindDefinition>(KIND_DEFINITIONS.map((d) => [d.kind, d as unknown as KindDefinition]));

/** The definition of `kind` (every Kind has one). */
export function kindDefinition(kind: Kind): KindDefinition {
  return BY_KIND.get(kind)!;
}

/**
 * A resource as the admin API hands it out: key material replaced (`redact`) and observed state
 * added (`status`). The stored resource is never changed.
 */
export function presentResource(res: MeshResource, model: MeshModel): MeshResource {
  const def = kindDefinition(res.kind) as KindDefinition<typeof res.kind>;
  const out = def.redact ? def.redact(res as never) : res;
  const status = def.status?.(res as never, model);
  return status === undefined ? out : ({ ...out, status } as MeshResource);
}

export type { KindDefinition, ModelBuilder, ReferenceContext, ResourceOf } from './kind.js';
