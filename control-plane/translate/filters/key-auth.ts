/**
 * weft.filters.http.key_auth for ApiKeyPolicy: after jwt_authn (it reads the JWT that filter
 * verified) and before RBAC, rate limits and everything that reads the consumer.
 *
 * - A gateway listener gets the filter with the policy targeting it (its own, else its Gateway's),
 *   or with no policy when only some rules name one by ExtensionRef; each Envoy Route built from
 *   such a rule carries that policy (a KeyAuthPolicy in typed_per_filter_config), which replaces
 *   the listener's there.
 * - A sidecar's inbound listener gets the filter with the policy targeting its Service.
 *
 * The policy carries every Consumer of its namespace, allowed or not, with the SHA-256 of each key
 * (never a key: the control plane never has one) and its expiry, and the JWT subjects mapped to
 * it. The table is built once per model and policy.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromMs, type Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { KeyAuthPolicySchema, type KeyAuthPolicy } from '../../../proto/gen/weft/v1/key_auth_pb.js';
import type { ApiKeyPolicyResource, ConsumerResource, ConsumerSelection, MeshModel } from '../../config/types.js';
import { policyForListener, policyForService, ruleExtension } from '../../config/kinds/policy-attachment.js';
import type { HttpFilterTranslation } from './filter.js';

function selects(sel: ConsumerSelection, c: ConsumerResource): boolean {
  if ('all' in sel) return true;
  if ('names' in sel) return sel.names.includes(c.metadata.name);
  return Object.entries(sel.matchLabels).every(([k, v]) => c.metadata.labels[k] === v);
}

const BUILT = new WeakMap<MeshModel, Map<ApiKeyPolicyResource, KeyAuthPolicy>>();

/** The policy with its namespace's consumer table (built once per model and policy). */
export function keyAuthPolicy(model: MeshModel, res: ApiKeyPolicyResource): KeyAuthPolicy {
  let byPolicy = BUILT.get(model);
  if (!byPolicy) BUILT.set(model, (byPolicy = new Map()));
  const done = byPolicy.get(res);
  if (done) return done;
  const ns = res.metadata.namespace;
  const s = res.spec;
  const consumers = [...model.consumers.values()]
    .filter((c) => c.metadata.namespace === ns)
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))
    .map((c) => ({
      name: c.metadata.name,
      plan: c.spec.plan,
      allowed: selects(s.consumers, c),
      keys: c.spec.keys.map((k) => ({
        id: k.id,
        sha256: Buffer.from(k.hash.slice('sha256:'.length), 'hex'),
        ...(k.expires ? { expires: timestampFromMs(Date.parse(k.expires)) } : {}),
      })),
      jwtSubjects: c.spec.jwtSubjects.map((j) => ({ issuer: j.issuer, subject: j.subject })),
    }));
  const msg = create(KeyAuthPolicySchema, { name: `${ns}/${res.metadata.name}`, header: s.header, query: s.query, hideCredentials: s.hideCredentials, allowJwt: s.allowJwt, consumers });
  byPolicy.set(res, msg);
  return msg;
}

function listenerFilter(policy: KeyAuthPolicy | undefined): HttpFilter {
  return typedExtension(EXTENSIONS.keyAuth, policy ? { policy } : {}) as HttpFilter;
}

export const keyAuth: HttpFilterTranslation = {
  name: EXTENSIONS.keyAuth.name,
  listenerFilters(ctx) {
    const policies = ctx.model.apiKeyPolicies;
    // Once the mesh has consumers, upstreams may trust x-weft-consumer: every gateway listener
    // then runs the filter, if only to remove a client-sent one (the edge is where clients are).
    if (policies.size === 0 && ctx.model.consumers.size === 0) return [];
    if (ctx.side === 'gateway' && ctx.gateway) {
      const p = policyForListener(policies.values(), ctx.gateway.gw, ctx.gateway.listener);
      return [listenerFilter(p ? keyAuthPolicy(ctx.model, p) : undefined)];
    }
    if (ctx.side === 'inbound' && ctx.service) {
      const p = policyForService(policies.values(), ctx.namespace, ctx.service);
      return p ? [listenerFilter(keyAuthPolicy(ctx.model, p))] : [];
    }
    return [];
  },
  routeConfig(ctx): Any | undefined {
    if (!ctx.gateway) return undefined;
    const p = ruleExtension<ApiKeyPolicyResource>(ctx.model, ctx.rule.filters, 'ApiKeyPolicy', ctx.namespace);
    return p ? packExtension(EXTENSIONS.keyAuthPolicy, keyAuthPolicy(ctx.model, p)) : undefined;
  },
};
