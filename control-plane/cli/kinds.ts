/**
 * CLI spellings of resource kinds (`weft get svc`, `weft get httproutes`, ...). A table of names
 * rather than the kind registry itself: the registry's definitions bring their validators (ajv,
 * the gRPC transcoder: about 340 ms to load), and `weft get` must start fast. A unit test
 * (test/unit/cli/kinds.test.ts) keeps this table equal to the registry's kind, plural, short
 * names and singleton.
 */
import type { Kind } from '../config/types.js';

export interface KindName {
  kind: Kind;
  plural: string;
  shortNames: readonly string[];
  /** A singleton's only name (it lives in namespace default). */
  singleton?: string;
}

export const KIND_NAMES: readonly KindName[] = Object.freeze([
  { kind: 'Service', plural: 'services', shortNames: ['svc'] },
  { kind: 'HTTPRoute', plural: 'httproutes', shortNames: [] },
  { kind: 'GRPCRoute', plural: 'grpcroutes', shortNames: [] },
  { kind: 'TrafficPolicy', plural: 'trafficpolicies', shortNames: ['tp'] },
  { kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', shortNames: ['authz'] },
  { kind: 'GRPCTranslation', plural: 'grpctranslations', shortNames: [] },
  { kind: 'MeshConfig', plural: 'meshconfigs', shortNames: [], singleton: 'mesh' },
  { kind: 'FaultPolicy', plural: 'faultpolicies', shortNames: [] },
  { kind: 'CorsPolicy', plural: 'corspolicies', shortNames: [] },
  { kind: 'CachePolicy', plural: 'cachepolicies', shortNames: [] },
  { kind: 'Gateway', plural: 'gateways', shortNames: ['gtw'] },
  { kind: 'Secret', plural: 'secrets', shortNames: [] },
  { kind: 'CompressionPolicy', plural: 'compressionpolicies', shortNames: [] },
  { kind: 'ClientTrafficPolicy', plural: 'clienttrafficpolicies', shortNames: ['ctp'] },
  { kind: 'SecurityHeadersPolicy', plural: 'securityheaderspolicies', shortNames: ['shp'] },
  { kind: 'TCPRoute', plural: 'tcproutes', shortNames: [] },
  { kind: 'TLSRoute', plural: 'tlsroutes', shortNames: [] },
  { kind: 'JwtPolicy', plural: 'jwtpolicies', shortNames: [] },
  { kind: 'Consumer', plural: 'consumers', shortNames: [] },
  { kind: 'ApiKeyPolicy', plural: 'apikeypolicies', shortNames: [] },
  { kind: 'ApiLifecyclePolicy', plural: 'apilifecyclepolicies', shortNames: [] },
  { kind: 'ValidationPolicy', plural: 'validationpolicies', shortNames: [] },
  { kind: 'TransformationPolicy', plural: 'transformationpolicies', shortNames: [] },
  { kind: 'AggregationPolicy', plural: 'aggregationpolicies', shortNames: [] },
  { kind: 'RateLimitPolicy', plural: 'ratelimitpolicies', shortNames: ['rlp'] },
] satisfies KindName[]);

const ALIASES: ReadonlyMap<string, Kind> = new Map(
  KIND_NAMES.flatMap((d) => [d.kind.toLowerCase(), d.plural, ...d.shortNames].map((s) => [s, d.kind] as const)),
);

/** The kind a CLI spelling names (any case: `svc`, `services`, `Service`), or undefined. */
export function parseKind(s: string): Kind | undefined {
  return ALIASES.get(s.toLowerCase());
}

/** Whether `s` is a kind exactly as written in YAML (`HTTPRoute`). */
export function isKind(s: unknown): s is Kind {
  return typeof s === 'string' && KIND_NAMES.some((d) => d.kind === s);
}

export const KIND_HELP = KIND_NAMES.map((d) => `${d.kind.toLowerCase()}${d.shortNames.length ? ` (${d.shortNames.join(', ')})` : ''}`).join(', ');
