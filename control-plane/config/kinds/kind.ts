/**
 * The contract every config kind implements: one definition per kind, in one list (kinds/index.ts).
 * Validation, the model builder and the CLI loop over that list; adding a kind is adding a file
 * and a line there. Definitions only `import type` from ../types.js (types.ts builds the model
 * from the list, so a value import back would be a module cycle).
 */
import type { BackendRef, Kind, MeshConfigSpec, MeshModel, MeshResource, ResourceKey } from '../types.js';
import type { Reader } from '../schema.js';

/** The resource of one kind. */
export type ResourceOf<K extends Kind> = Extract<MeshResource, { kind: K }>;

/** The collections of a MeshModel while it is being built (types.ts buildModel). */
export interface ModelBuilder {
  services: Map<ResourceKey, ResourceOf<'Service'>>;
  httpRoutes: ResourceOf<'HTTPRoute'>[];
  grpcRoutes: ResourceOf<'GRPCRoute'>[];
  tcpRoutes: ResourceOf<'TCPRoute'>[];
  tlsRoutes: ResourceOf<'TLSRoute'>[];
  trafficPolicies: Map<ResourceKey, ResourceOf<'TrafficPolicy'>>;
  authorizationPolicies: ResourceOf<'AuthorizationPolicy'>[];
  grpcTranslations: Map<ResourceKey, ResourceOf<'GRPCTranslation'>>;
  faultPolicies: Map<ResourceKey, ResourceOf<'FaultPolicy'>>;
  corsPolicies: Map<ResourceKey, ResourceOf<'CorsPolicy'>>;
  cachePolicies: Map<ResourceKey, ResourceOf<'CachePolicy'>>;
  gateways: Map<ResourceKey, ResourceOf<'Gateway'>>;
  secrets: Map<ResourceKey, ResourceOf<'Secret'>>;
  compressionPolicies: Map<ResourceKey, ResourceOf<'CompressionPolicy'>>;
  clientTrafficPolicies: Map<ResourceKey, ResourceOf<'ClientTrafficPolicy'>>;
  securityHeadersPolicies: Map<ResourceKey, ResourceOf<'SecurityHeadersPolicy'>>;
  jwtPolicies: Map<ResourceKey, ResourceOf<'JwtPolicy'>>;
  consumers: Map<ResourceKey, ResourceOf<'Consumer'>>;
  apiKeyPolicies: Map<ResourceKey, ResourceOf<'ApiKeyPolicy'>>;
  apiLifecyclePolicies: Map<ResourceKey, ResourceOf<'ApiLifecyclePolicy'>>;
  validationPolicies: Map<ResourceKey, ResourceOf<'ValidationPolicy'>>;
  transformationPolicies: Map<ResourceKey, ResourceOf<'TransformationPolicy'>>;
  aggregationPolicies: Map<ResourceKey, ResourceOf<'AggregationPolicy'>>;
  rateLimitPolicies: Map<ResourceKey, ResourceOf<'RateLimitPolicy'>>;
  mesh: MeshConfigSpec;
}

/** What a definition's reference check may use: the model, and errors at a field path of the resource. */
export interface ReferenceContext {
  readonly model: MeshModel;
  err(path: string, message: string): void;
  /** A backendRef (or mirror backendRef) at `path`: the Service, its port and subset exist. */
  backend(b: BackendRef, path: string): void;
  /** Route hostname -> the Services (ns/name) whose routes claim it (computed once per check). */
  hostnameOwners(): ReadonlyMap<string, ReadonlySet<string>>;
  /** Every mesh service's own host forms -> the Service (ns/name) (computed once per check). */
  serviceHosts(): ReadonlyMap<string, string>;
}

export interface KindDefinition<K extends Kind = Kind> {
  readonly kind: K;
  /** apiVersions accepted, the preferred one first. */
  readonly apiVersions: readonly string[];
  /** CLI spellings besides the lower-case kind: its plural and short names (`weft get svc`). */
  readonly plural: string;
  readonly shortNames: readonly string[];
  /** Fields a kind carries beside metadata instead of under `spec` (Kubernetes Secret's type/data); read() gets them as its spec. */
  readonly topLevel?: readonly string[];
  /** What the admin API hands out instead of the stored resource (key material replaced). */
  redact?(res: ResourceOf<K>): ResourceOf<K>;
  /** Observed state the admin API adds to the resource it hands out (`status`), from the model. */
  status?(res: ResourceOf<K>, model: MeshModel): ResourceOf<K>['status'];
  /** A singleton's only name (cluster-scoped, namespace 'default', spec optional). */
  readonly singleton?: string;
  /** Reads and validates `spec`; errors go to `r`. Undefined when nothing usable was read. */
  read(r: Reader, spec: unknown, namespace: string): ResourceOf<K>['spec'] | undefined;
  /** Checks the references the resource makes, in `ctx.model`. */
  references?(res: ResourceOf<K>, ctx: ReferenceContext): void;
  /**
   * At most one resource of this kind per target (`target` names it, e.g. `Service ns/name`):
   * a second one in an apply, or against stored config, is an error at `path`.
   */
  readonly onePer?: { readonly path: string; target(res: ResourceOf<K>): string };
  /** Puts the resource where the model keeps kinds of its sort (every resource is in `resources` anyway). */
  addToModel(b: ModelBuilder, res: ResourceOf<K>): void;
  /** One line for `weft get`'s SUMMARY column. */
  summary(res: ResourceOf<K>): string;
}
