// The kind registry (issue 18 item 6): one definition per kind, and what loops over the list
// (validation, the CLI's spellings) says what it said when each place named the kinds itself.
import { describe, expect, it } from 'vitest';
import { KIND_DEFINITIONS, kindDefinition } from '../../../control-plane/config/kinds/index.js';
import { KINDS } from '../../../control-plane/config/model.js';
import { validateDocument } from '../../../control-plane/config/validate.js';
import { KIND_HELP, parseKind } from '../../../control-plane/cli/kinds.js';

describe('kind registry', () => {
  it('lists every kind once, in the documented order', () => {
    expect(KINDS).toEqual([
      'Service', 'HTTPRoute', 'GRPCRoute', 'TrafficPolicy', 'AuthorizationPolicy', 'GRPCTranslation', 'MeshConfig', 'FaultPolicy', 'CorsPolicy', 'CachePolicy', 'Gateway', 'Secret', 'CompressionPolicy', 'ClientTrafficPolicy', 'SecurityHeadersPolicy',
      // Layer-4 routes (issue 21).
      'TCPRoute', 'TLSRoute',
      // The API-gateway kinds (issue 20).
      'JwtPolicy',
      'Consumer', 'ApiKeyPolicy',
      'ApiLifecyclePolicy',
      'ValidationPolicy', 'TransformationPolicy',
      'AggregationPolicy',
      'RateLimitPolicy',
    ]);
    expect(new Set(KIND_DEFINITIONS.map((d) => d.kind)).size).toBe(KIND_DEFINITIONS.length);
    for (const k of KINDS) expect(kindDefinition(k).kind).toBe(k);
  });

  it('gives the CLI the same spellings and help as before (plus FaultPolicy, CorsPolicy, CachePolicy, Gateway, Secret, CompressionPolicy and the gateway policies)', () => {
    expect(KIND_HELP).toBe(
      [
        'service (svc), httproute, grpcroute, trafficpolicy (tp), authorizationpolicy (authz), grpctranslation, meshconfig, faultpolicy, corspolicy, cachepolicy, gateway (gtw), secret, compressionpolicy, clienttrafficpolicy (ctp), securityheaderspolicy (shp)',
        'tcproute, tlsroute',
        'jwtpolicy',
        'consumer, apikeypolicy',
        'apilifecyclepolicy',
        'validationpolicy, transformationpolicy',
        'aggregationpolicy',
        'ratelimitpolicy (rlp)',
      ].join(', '),
    );
    const spellings: Record<string, string> = {
      service: 'Service', services: 'Service', svc: 'Service', httproute: 'HTTPRoute', httproutes: 'HTTPRoute', grpcroute: 'GRPCRoute', grpcroutes: 'GRPCRoute',
      trafficpolicy: 'TrafficPolicy', trafficpolicies: 'TrafficPolicy', tp: 'TrafficPolicy', authorizationpolicy: 'AuthorizationPolicy', authorizationpolicies: 'AuthorizationPolicy',
      authz: 'AuthorizationPolicy', grpctranslation: 'GRPCTranslation', grpctranslations: 'GRPCTranslation', meshconfig: 'MeshConfig', meshconfigs: 'MeshConfig', faultpolicy: 'FaultPolicy', faultpolicies: 'FaultPolicy', corspolicy: 'CorsPolicy', corspolicies: 'CorsPolicy', cachepolicy: 'CachePolicy', cachepolicies: 'CachePolicy',
      gateway: 'Gateway', gateways: 'Gateway', gtw: 'Gateway', secret: 'Secret', secrets: 'Secret', compressionpolicy: 'CompressionPolicy', compressionpolicies: 'CompressionPolicy',
      clienttrafficpolicy: 'ClientTrafficPolicy', clienttrafficpolicies: 'ClientTrafficPolicy', ctp: 'ClientTrafficPolicy',
      securityheaderspolicy: 'SecurityHeadersPolicy', securityheaderspolicies: 'SecurityHeadersPolicy', shp: 'SecurityHeadersPolicy',
      tcproute: 'TCPRoute', tcproutes: 'TCPRoute', tlsroute: 'TLSRoute', tlsroutes: 'TLSRoute',
      jwtpolicy: 'JwtPolicy', jwtpolicies: 'JwtPolicy',
      consumer: 'Consumer', consumers: 'Consumer', apikeypolicy: 'ApiKeyPolicy', apikeypolicies: 'ApiKeyPolicy',
      apilifecyclepolicy: 'ApiLifecyclePolicy', apilifecyclepolicies: 'ApiLifecyclePolicy',
      validationpolicy: 'ValidationPolicy', validationpolicies: 'ValidationPolicy', transformationpolicy: 'TransformationPolicy', transformationpolicies: 'TransformationPolicy',
      aggregationpolicy: 'AggregationPolicy', aggregationpolicies: 'AggregationPolicy',
      ratelimitpolicy: 'RateLimitPolicy', ratelimitpolicies: 'RateLimitPolicy', rlp: 'RateLimitPolicy',
      SVC: 'Service', HTTPRoute: 'HTTPRoute',
    };
    for (const [s, k] of Object.entries(spellings)) expect(parseKind(s), s).toBe(k);
    expect(parseKind('routes')).toBeUndefined();
  });

  it.each([
    ['Service', 'weft.dev/v1', 'Service needs apiVersion weft.dev/v1alpha1, got \'weft.dev/v1\''],
    ['GRPCRoute', 'weft.dev/v1alpha1', 'GRPCRoute needs apiVersion gateway.networking.k8s.io/v1 or gateway.networking.k8s.io/v1alpha2, got \'weft.dev/v1alpha1\''],
    ['HTTPRoute', 'gateway.networking.k8s.io/v1alpha2', 'HTTPRoute needs apiVersion gateway.networking.k8s.io/v1, got \'gateway.networking.k8s.io/v1alpha2\''],
  ])('checks the apiVersion of a %s from its definition', (kind, apiVersion, message) => {
    const { errors } = validateDocument({ apiVersion, kind, metadata: { name: 'x' }, spec: {} }, { file: 'f' });
    expect(errors.find((e) => e.path === 'apiVersion')?.message).toBe(message);
  });

  it('MeshConfig is a singleton named mesh, with an optional spec', () => {
    const bad = validateDocument({ apiVersion: 'weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'other', namespace: 'x' } }, { file: 'f' });
    expect(bad.errors.map((e) => [e.path, e.message])).toEqual([['metadata.name', "MeshConfig is a singleton and must be named 'mesh'"]]);
    const ok = validateDocument({ apiVersion: 'weft.dev/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh', namespace: 'x' } }, { file: 'f' });
    expect(ok.errors).toEqual([]);
    expect(ok.resource?.metadata.namespace).toBe('default');
  });
});
