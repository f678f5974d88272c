/**
 * ApiKeyPolicy (weft.dev/v1alpha1, namespaced): requests must carry the API key of a Consumer of
 * the policy's namespace, read from a header (`header`, default `x-api-key`) and/or a query
 * parameter (`query`). `consumers` says which consumers may call: all (the default), `names`, or
 * `matchLabels` on the Consumers' metadata.labels; a known key of another consumer gets 403.
 * `hideCredentials` (default true) strips the key before the request goes upstream; `allowJwt`
 * accepts, instead of a key, a JWT the jwt_authn filter verified whose (issuer, subject) a
 * Consumer lists in jwtSubjects.
 *
 * It attaches like the other API policies (policy-attachment.ts): per route rule by ExtensionRef
 * (gateway routes), or by `spec.targetRefs` to Gateways, listeners and Services (the service's
 * sidecars enforce it on their inbound listener). Translated to weft.filters.http.key_auth
 * (translate/filters/key-auth.ts).
 */
import type { ApiKeyPolicySpec, ConsumerSelection } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

export const DEFAULT_KEY_HEADER = 'x-api-key';
const QUERY_NAME = /^[A-Za-z0-9._~-]{1,64}$/;
/** Headers a key cannot travel in: the proxy drops, rewrites or owns them. */
const RESERVED_HEADERS = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'upgrade', 'trailer', 'content-length', 'x-weft-consumer']);

function readConsumers(r: Reader, v: unknown, p: string): ConsumerSelection {
  if (v === undefined || v === null) return { all: true };
  const o = r.obj(v, p, ['all', 'names', 'matchLabels']);
  if (!o) return { all: true };
  const set = (['all', 'names', 'matchLabels'] as const).filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length !== 1) {
    r.err(p, set.length ? `set only one of ${set.join(', ')}` : 'needs one of all, names, matchLabels (or leave consumers out: every Consumer of the namespace)');
    return { all: true };
  }
  if (set[0] === 'all') {
    if (r.bool(o.all, `${p}.all`) === false) r.err(`${p}.all`, 'false would let no consumer call; list names or matchLabels instead');
    return { all: true };
  }
  if (set[0] === 'names') {
    const names = r.arr(o.names, `${p}.names`, (x, q) => r.dnsLabel(x, q), { nonEmpty: true });
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (seen.has(n)) r.err(`${p}.names[${i}]`, `'${n}' is listed twice`);
      seen.add(n);
    });
    return { names };
  }
  const matchLabels = r.labels(o.matchLabels, `${p}.matchLabels`);
  if (Object.keys(matchLabels).length === 0) r.err(`${p}.matchLabels`, 'must name at least one label (an empty selector would match every consumer: leave consumers out for that)');
  return { matchLabels };
}

export function readApiKeyPolicy(r: Reader, v: unknown): ApiKeyPolicySpec | undefined {
  const o = v === undefined || v === null ? {} : r.obj(v, 'spec', ['header', 'query', 'consumers', 'hideCredentials', 'allowJwt', 'targetRefs']);
  if (!o) return undefined;
  let header = '';
  if (o.header !== undefined && o.header !== null) {
    const h = r.headerName(o.header, 'spec.header')?.toLowerCase();
    if (h !== undefined && RESERVED_HEADERS.has(h)) r.err('spec.header', `'${h}' cannot carry a key: the proxy drops or sets it`);
    else if (h !== undefined) header = h;
  }
  const query = r.str(o.query, 'spec.query', { pattern: QUERY_NAME, patternHelp: 'a query parameter name (letters, digits, ., _, ~ and -)' }) ?? '';
  // Neither named: the conventional header.
  if ((o.header === undefined || o.header === null) && (o.query === undefined || o.query === null)) header = DEFAULT_KEY_HEADER;
  const consumers = readConsumers(r, o.consumers, 'spec.consumers');
  const hideCredentials = r.bool(o.hideCredentials, 'spec.hideCredentials') ?? true;
  const allowJwt = r.bool(o.allowJwt, 'spec.allowJwt') ?? false;
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false, services: true });
  return { header, query, consumers, hideCredentials, allowJwt, targetRefs };
}

export const apiKeyPolicyKind: KindDefinition<'ApiKeyPolicy'> = {
  kind: 'ApiKeyPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'apikeypolicies',
  shortNames: [],
  read: (r, spec) => readApiKeyPolicy(r, spec),
  references(res, ctx) {
    targetRefReferences(res, ctx.model.apiKeyPolicies.values(), ctx);
    const c = res.spec.consumers;
    if ('names' in c) {
      const ns = res.metadata.namespace;
      c.names.forEach((n, i) => {
        if (!ctx.model.consumers.has(`Consumer/${ns}/${n}`)) ctx.err(`spec.consumers.names[${i}]`, `Consumer ${ns}/${n} does not exist (a policy names Consumers of its own namespace)`);
      });
    }
  },
  addToModel: (b, res) => void b.apiKeyPolicies.set(`ApiKeyPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const { header, query, consumers, allowJwt, targetRefs } = res.spec;
    const from = [header && `header ${header}`, query && `query ${query}`].filter(Boolean).join(' or ');
    const who = 'all' in consumers ? 'all consumers' : 'names' in consumers ? `consumers ${consumers.names.join(', ')}` : `consumers ${Object.entries(consumers.matchLabels).map(([k, v]) => `${k}=${v}`).join(',')}`;
    const targets = targetRefs.map((t) => (t.kind === 'Service' ? `Service ${t.name}` : t.sectionName ? `${t.name}/${t.sectionName}` : t.name));
    return `key from ${from}; ${who}${allowJwt ? '; JWT subjects too' : ''}${targets.length ? `; targets ${targets.join(', ')}` : ''}`;
  },
};
