// What the proxy refuses of a jwt_authn config (NACK with the field path) rather than run it
// differently from Envoy: `rules`, requirement forms it does not execute, provider options it
// ignores, keys that are not a key set, an http JWKS; and the origin (JWKS) cluster shapes it
// accepts: one endpoint, STATIC or STRICT_DNS, inline PEM roots and SNI only.
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS, packExtension } from '../../../common/extensions.js';
import { ClusterSchema, Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { JwtAuthenticationSchema } from '../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import { jwtAuthn } from '../../../sidecar/http/filters/jwt-authn.js';
import { jwtClaims } from '../../../sidecar/http/filters/jwt-claims.js';
import { Problems } from '../../../sidecar/xds/types/decoded.js';
import { decodeCluster } from '../../../sidecar/xds/types/cluster.js';
import { selfSignedCert } from '../../harness/certs.js';

const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'G0pKVL3fA1cDv0EtmDG48pN1mRyrmBfmj0bSg2PkWU8', y: '55I74nqr6BiCZq_JMlCIjG-cOjazPd_qsBx-43rrkdU', kid: 'k1' }] });
const LOCAL = { jwksSourceSpecifier: { case: 'localJwks' as const, value: { specifier: { case: 'inlineString' as const, value: JWKS } } } };

function problems(init: MessageInitShape<typeof JwtAuthenticationSchema>): Array<[string, string]> {
  const p = new Problems('Listener/x');
  jwtAuthn.parse(packExtension(EXTENSIONS.jwtAuthn, init), p, 'f');
  return p.errors.map((e) => [e.path, e.message]);
}

describe('jwt_authn config the proxy refuses', () => {
  it('accepts what the control plane emits', () => {
    expect(problems({ providers: { a: LOCAL }, requirementMap: { r: { requiresType: { case: 'requiresAny', value: { requirements: [{ requiresType: { case: 'providerName', value: 'a' } }, { requiresType: { case: 'allowMissing', value: {} } }] } } } } })).toEqual([]);
  });

  it.each([
    ['rules (route matching inside the filter)', { providers: { a: LOCAL }, rules: [{ requirementType: { case: 'requires', value: { requiresType: { case: 'providerName', value: 'a' } } } }] }, [['f.rules', 'is not supported by the Weft sidecar (refused rather than ignored)']]],
    ['a provider option it does not execute', { providers: { a: { ...LOCAL, requireExpiration: true } } }, [['f.providers["a"].require_expiration', 'is not supported by the Weft sidecar (refused rather than ignored)']]],
    ['requires_all', { providers: { a: LOCAL }, requirementMap: { r: { requiresType: { case: 'requiresAll', value: { requirements: [] } } } } }, [['f.requirement_map["r"].requires_all', 'is not supported by the Weft sidecar (refused rather than ignored)'], ['f.requirement_map["r"]', 'needs provider_name, requires_any, allow_missing or allow_missing_or_failed']]],
    ['a nested list', { providers: { a: LOCAL }, requirementMap: { r: { requiresType: { case: 'requiresAny', value: { requirements: [{ requiresType: { case: 'requiresAny', value: { requirements: [] } } }] } } } } }, [['f.requirement_map["r"].requires_any.requirements[0].requires_any', 'nested requirement lists are not supported by the Weft sidecar']]],
    ['an unknown provider', { providers: { a: LOCAL }, requirementMap: { r: { requiresType: { case: 'providerName', value: 'b' } } } }, [['f.requirement_map["r"].provider_name', "'b' is not a provider of this filter"]]],
    ['keys that are not a key set', { providers: { a: { jwksSourceSpecifier: { case: 'localJwks', value: { specifier: { case: 'inlineString', value: '{"x":1}' } } } } } }, [['f.providers["a"].local_jwks.inline_string', 'not a JWKS document (no "keys" list)']]],
    ['an http JWKS, without cluster or timeout', { providers: { a: { jwksSourceSpecifier: { case: 'remoteJwks', value: { httpUri: { uri: 'http://idp/jwks' } } } } } }, [['f.providers["a"].remote_jwks.http_uri.uri', "'http://idp/jwks' is not an https URL"], ['f.providers["a"].remote_jwks.http_uri.cluster', 'is required (the origin cluster the keys are fetched through)'], ['f.providers["a"].remote_jwks.http_uri.timeout', 'must be positive']]],
    ['a claim into Host', { providers: { a: { ...LOCAL, claimToHeaders: [{ headerName: 'Host', claimName: 'sub' }] } } }, [['f.providers["a"].claim_to_headers[0].header_name', "'Host' cannot carry a claim"]]],
    ['a skew above 300 s', { providers: { a: { ...LOCAL, clockSkewSeconds: 3600 } } }, [['f.providers["a"].clock_skew_seconds', 'must be at most 300']]],
  ] as const)('%s', (_n, init, want) => {
    expect(problems(init as never)).toEqual(want);
  });

  it('per route: requirement_name or disabled; claims need values', () => {
    const p = new Problems('RouteConfiguration/x');
    jwtAuthn.perRoute!.parse(packExtension(EXTENSIONS.jwtAuthnPerRoute, {}), p, 'r');
    jwtClaims.perRoute!.parse(packExtension(EXTENSIONS.jwtClaimsPerRoute, { scopes: ['a b'], claims: [{ name: 'x', values: [] }] }), p, 'c');
    expect(p.errors.map((e) => [e.path, e.message])).toEqual([['r', 'needs requirement_name or disabled'], ['c.scopes[0]', "'a b' is not a scope-token"], ['c.claims[0].values', 'must not be empty (a claim no value satisfies refuses every request)']]);
  });
});

describe('origin (JWKS) clusters', () => {
  const CA = selfSignedCert(['idp.test']).certPem;
  const cluster = (o: { type?: Cluster_DiscoveryType; endpoints?: number; ca?: string; certs?: boolean } = {}) => {
    const tls = packExtension(EXTENSIONS.upstreamTls, {
      sni: 'idp.test',
      commonTlsContext: {
        validationContextType: { case: 'validationContext', value: { trustedCa: { specifier: { case: 'inlineString', value: o.ca ?? CA } } } },
        ...(o.certs ? { alpnProtocols: ['h2'] } : {}),
      },
    });
    const ep = { hostIdentifier: { case: 'endpoint' as const, value: { address: { address: { case: 'socketAddress' as const, value: { address: 'idp.test', portSpecifier: { case: 'portValue' as const, value: 443 } } } } } } };
    return toBinary(ClusterSchema, create(ClusterSchema, {
      name: 'jwks|idp.test|443|x',
      clusterDiscoveryType: { case: 'type', value: o.type ?? Cluster_DiscoveryType.STRICT_DNS },
      connectTimeout: { seconds: 1n },
      loadAssignment: { clusterName: 'x', endpoints: [{ lbEndpoints: Array.from({ length: o.endpoints ?? 1 }, () => ep) }] },
      transportSocket: { name: 'envoy.transport_sockets.tls', configType: { case: 'typedConfig', value: tls } },
    }));
  };
  const errs = (b: Uint8Array) => decodeCluster(b).errors.map((e) => [e.path, e.message]);

  it('accepts STRICT_DNS or STATIC with one endpoint, PEM roots and SNI', () => {
    expect(errs(cluster())).toEqual([]);
    expect(errs(cluster({ type: Cluster_DiscoveryType.STATIC }))).toEqual([]);
  });
  it('refuses other shapes with their paths', () => {
    expect(errs(cluster({ type: Cluster_DiscoveryType.LOGICAL_DNS }))).toEqual([['type', 'an origin cluster (own trusted_ca) is STATIC or STRICT_DNS']]);
    expect(errs(cluster({ endpoints: 2 }))).toEqual([['load_assignment', 'an origin cluster (own trusted_ca) has exactly one endpoint']]);
    expect(errs(cluster({ ca: 'not pem' }))).toEqual([['transport_socket.typed_config.common_tls_context.validation_context.trusted_ca', 'must be inline PEM certificates (the roots that verify the server)']]);
    expect(errs(cluster({ certs: true }))).toEqual([['transport_socket.typed_config.common_tls_context.alpn_protocols', 'is not supported by the Weft sidecar (refused rather than ignored)']]);
  });
});
