/**
 * JwtPolicy -> envoy.filters.http.jwt_authn (+ weft.filters.http.jwt_claims), on gateway
 * listeners and on the inbound listener of a Service a JwtPolicy targets.
 *
 * - Each policy becomes one entry of the filter's `requirement_map`, named `<ns>/<policy>`: Envoy's
 *   `requires_any` over its providers (plus `allow_missing` / `allow_missing_or_failed`); each of
 *   its providers one `providers` entry, named `<ns>/<policy>/<provider>`.
 * - A route names its requirement with a `PerRouteConfig.requirement_name`: a gateway route gets
 *   its rule's ExtensionRef policy, else the policy targeting its listener, else its Gateway's; a
 *   sidecar's inbound virtual host the policy targeting its Service. Routes without one are not
 *   checked (as in Envoy, where no requirement means none).
 * - The listener's JwtAuthentication carries exactly the providers and requirements its routes
 *   name, so a policy only one route uses does not load keys on every listener.
 * - Remote JWKS: `http_uri.cluster` names a cluster emitted with them (`jwksClusters`): STATIC for
 *   an IP literal, else STRICT_DNS, with an UpstreamTlsContext that trusts only the policy's CA
 *   and sends the URI's host as SNI. Envoy can run the same config; Weft's proxy fetches through
 *   that cluster's endpoint and TLS context.
 * - Scopes and claims: Envoy's jwt_authn has no field for them; the Weft filter jwt_claims
 *   (weft/v1/jwt.proto) follows jwt_authn and answers 403 insufficient_scope. It is only
 *   emitted where a route asks for scopes or claims.
 */
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, isExtensionConfig, packExtension, typedExtension } from '../../../common/extensions.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { PerRouteConfigSchema, type JwtAuthentication } from '../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { HttpConnectionManagerSchema } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { JwtPolicyResource, JwtProviderSpec, MeshModel, RemoteJwksSpec } from '../../config/types.js';
import { policyForListener, policyForService, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { makeResource, type Resource } from '../../xds/snapshot.js';
import { duration, socketAddress } from '../proto-helpers.js';
import type { HttpFilterTranslation, ListenerContext, RouteRuleContext, VirtualHostContext } from './filter.js';

/** The requirement_map key of a policy. */
export function requirementName(p: JwtPolicyResource): string {
  return `${p.metadata.namespace}/${p.metadata.name}`;
}

function providerKey(p: JwtPolicyResource, provider: string): string {
  return `${requirementName(p)}/${provider}`;
}

/** The cluster a remote JWKS is fetched through: one per (host, port, CA). */
export function jwksClusterName(remote: RemoteJwksSpec): string {
  const u = new URL(remote.uri);
  const port = u.port || '443';
  const ca = createHash('sha256').update(remote.caCertificates).digest('hex').slice(0, 10);
  return `jwks|${u.hostname}|${port}|${ca}`;
}

function envoyProvider(x: JwtProviderSpec) {
  // No token location given: Envoy would also look in the access_token query parameter; the
  // policy's default is the Authorization header alone (tokens in URLs end up in logs).
  const defaults = !x.fromHeaders.length && !x.fromParams.length && !x.fromCookies.length;
  return {
    issuer: x.issuer,
    audiences: x.audiences,
    jwksSourceSpecifier: x.remoteJwks
      ? {
          case: 'remoteJwks' as const,
          value: {
            httpUri: { uri: x.remoteJwks.uri, httpUpstreamType: { case: 'cluster' as const, value: jwksClusterName(x.remoteJwks) }, timeout: duration(x.remoteJwks.timeoutMs) },
            cacheDuration: duration(x.remoteJwks.cacheDurationMs),
          },
        }
      : { case: 'localJwks' as const, value: { specifier: { case: 'inlineString' as const, value: x.localJwks! } } },
    forward: x.forward,
    fromHeaders: defaults ? [{ name: 'authorization', valuePrefix: 'Bearer ' }] : x.fromHeaders,
    fromParams: x.fromParams,
    fromCookies: x.fromCookies,
    clockSkewSeconds: x.clockSkewSeconds,
    claimToHeaders: x.claimToHeaders.map((c) => ({ headerName: c.header, claimName: c.claim })),
  };
}

function envoyRequirement(p: JwtPolicyResource) {
  const r = p.spec.requirement;
  const any = r.providers.map((n) => ({ requiresType: { case: 'providerName' as const, value: providerKey(p, n) } }));
  if (r.allowFailed) any.push({ requiresType: { case: 'allowMissingOrFailed', value: {} } } as never);
  else if (r.allowMissing) any.push({ requiresType: { case: 'allowMissing', value: {} } } as never);
  return any.length === 1 ? any[0]! : { requiresType: { case: 'requiresAny' as const, value: { requirements: any } } };
}

/** The policy a gateway route rule runs under: its own, else its listener's, else its Gateway's. */
function rulePolicy(ctx: RouteRuleContext): JwtPolicyResource | undefined {
  if (!ctx.gateway) return undefined;
  return ruleExtension<JwtPolicyResource>(ctx.model, ctx.rule.filters, 'JwtPolicy', ctx.namespace) ?? policyForListener(ctx.model.jwtPolicies.values(), ctx.gateway.gw, ctx.gateway.listener);
}

function servicePolicy(ctx: VirtualHostContext): JwtPolicyResource | undefined {
  return ctx.side === 'inbound' ? policyForService(ctx.model.jwtPolicies.values(), ctx.svc.metadata.namespace, ctx.svc.metadata.name) : undefined;
}

/** The policies the virtual hosts and routes of `rc` name, by requirement name. */
function namedPolicies(model: MeshModel, rc: RouteConfiguration): JwtPolicyResource[] {
  const names = new Set<string>();
  const add = (pf: Record<string, Any>) => {
    const any = pf[EXTENSIONS.jwtAuthnPerRoute.name];
    const pr = any ? anyUnpack(any, PerRouteConfigSchema) : undefined;
    if (pr?.requirementSpecifier.case === 'requirementName') names.add(pr.requirementSpecifier.value);
  };
  for (const vh of rc.virtualHosts) {
    add(vh.typedPerFilterConfig);
    for (const r of vh.routes) add(r.typedPerFilterConfig);
  }
  return [...names].sort().flatMap((n) => {
    const p = model.jwtPolicies.get(`JwtPolicy/${n}`);
    return p ? [p] : [];
  });
}

function perRoute(p: JwtPolicyResource | undefined): Any | undefined {
  return p ? packExtension(EXTENSIONS.jwtAuthnPerRoute, { requirementSpecifier: { case: 'requirementName', value: requirementName(p) } }) : undefined;
}

function claimsPerRoute(p: JwtPolicyResource | undefined): Any | undefined {
  const r = p?.spec.requirement;
  if (!r || (!r.scopes.length && !r.claims.length)) return undefined;
  return packExtension(EXTENSIONS.jwtClaimsPerRoute, { scopes: r.scopes, claims: r.claims });
}

export const jwtAuthn: HttpFilterTranslation = {
  name: EXTENSIONS.jwtAuthn.name,
  listenerFilters(ctx: ListenerContext) {
    if (ctx.side !== 'gateway' && ctx.side !== 'inbound') return [];
    const policies = namedPolicies(ctx.model, ctx.routes);
    if (!policies.length) return [];
    const providers: Record<string, ReturnType<typeof envoyProvider>> = {};
    const requirementMap: Record<string, ReturnType<typeof envoyRequirement>> = {};
    for (const p of policies) {
      for (const x of p.spec.providers) providers[providerKey(p, x.name)] = envoyProvider(x);
      requirementMap[requirementName(p)] = envoyRequirement(p);
    }
    return [typedExtension(EXTENSIONS.jwtAuthn, { providers, requirementMap } as never) as HttpFilter];
  },
  virtualHostConfig: (ctx) => perRoute(servicePolicy(ctx)),
  routeConfig: (ctx) => perRoute(rulePolicy(ctx)),
};

export const jwtClaims: HttpFilterTranslation = {
  name: EXTENSIONS.jwtClaims.name,
  listenerFilters(ctx: ListenerContext) {
    if (ctx.side !== 'gateway' && ctx.side !== 'inbound') return [];
    const used = ctx.routes.virtualHosts.some((vh) => EXTENSIONS.jwtClaims.name in vh.typedPerFilterConfig || vh.routes.some((r) => EXTENSIONS.jwtClaims.name in r.typedPerFilterConfig));
    return used ? [typedExtension(EXTENSIONS.jwtClaims) as HttpFilter] : [];
  },
  virtualHostConfig: (ctx) => claimsPerRoute(servicePolicy(ctx)),
  routeConfig: (ctx) => claimsPerRoute(rulePolicy(ctx)),
};

/** An IPv4 or IPv6 literal (a STATIC endpoint); anything else is a DNS name. */
function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(':');
}

function jwksCluster(remote: RemoteJwksSpec): Resource {
  const name = jwksClusterName(remote);
  const u = new URL(remote.uri);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = Number(u.port || 443);
  const tls = packExtension(EXTENSIONS.upstreamTls, {
    // SNI and the name the certificate must carry: the URI's host.
    sni: isIp(host) ? '' : host,
    commonTlsContext: {
      validationContextType: { case: 'validationContext', value: { trustedCa: { specifier: { case: 'inlineString', value: remote.caCertificates } } } },
    },
  });
  const cluster = create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: isIp(host) ? Cluster_DiscoveryType.STATIC : Cluster_DiscoveryType.STRICT_DNS },
    lbPolicy: Cluster_LbPolicy.ROUND_ROBIN,
    connectTimeout: duration(remote.timeoutMs),
    loadAssignment: { clusterName: name, endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: socketAddress(host, port) } } }] }] },
    transportSocket: { name: EXTENSIONS.upstreamTls.name, configType: { case: 'typedConfig', value: tls } },
  });
  return makeResource(TYPE_URL.cluster, name, ClusterSchema, cluster);
}

/**
 * The JWKS clusters the jwt_authn filters among `resources` (Listeners) fetch through, built from
 * the policies of `model` that define them.
 */
export function jwksClusters(model: MeshModel, resources: readonly Resource[]): Resource[] {
  const wanted = new Set<string>();
  for (const r of resources) {
    if (r.typeUrl !== TYPE_URL.listener) continue;
    for (const fc of (r.message as Listener).filterChains) {
      for (const f of fc.filters) {
        const any = f.configType.case === 'typedConfig' ? f.configType.value : undefined;
        if (!any || !isExtensionConfig(any.typeUrl, EXTENSIONS.httpConnectionManager)) continue;
        const hcm = anyUnpack(any, HttpConnectionManagerSchema);
        for (const hf of hcm?.httpFilters ?? []) {
          const c = hf.configType.case === 'typedConfig' ? hf.configType.value : undefined;
          if (!c || !isExtensionConfig(c.typeUrl, EXTENSIONS.jwtAuthn)) continue;
          const ja = anyUnpack(c, EXTENSIONS.jwtAuthn.schema) as JwtAuthentication | undefined;
          for (const p of Object.values(ja?.providers ?? {})) {
            const src = p.jwksSourceSpecifier;
            if (src.case === 'remoteJwks' && src.value.httpUri?.httpUpstreamType.case === 'cluster') wanted.add(src.value.httpUri.httpUpstreamType.value);
          }
        }
      }
    }
  }
  if (!wanted.size) return [];
  const out = new Map<string, Resource>();
  for (const p of model.jwtPolicies.values()) {
    for (const x of p.spec.providers) {
      if (!x.remoteJwks) continue;
      const name = jwksClusterName(x.remoteJwks);
      if (wanted.has(name) && !out.has(name)) out.set(name, jwksCluster(x.remoteJwks));
    }
  }
  return [...out.values()];
}
