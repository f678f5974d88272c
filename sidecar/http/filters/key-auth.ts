/**
 * Weft's API-key filter (weft.filters.http.key_auth, weft.v1.KeyAuth / KeyAuthPolicy), for
 * ApiKeyPolicy and Consumer. The policy's consumer table becomes, when the config is applied, a
 * Map from the SHA-256 (hex) of each key to its consumer, and one from each mapped JWT
 * (issuer, subject); a request costs one SHA-256 of the key it presents and one lookup.
 *
 *  - The key is read from the policy's header, else its query parameter. None (and no mapped JWT
 *    when allow_jwt): 401 API_KEY_MISSING with `WWW-Authenticate: ApiKey realm="weft",
 *    header="x-api-key"` (or `query="..."`). A key no consumer has, or one past its expiry:
 *    401 API_KEY_INVALID. A key (or JWT subject) of a consumer the policy does not allow:
 *    403 CONSUMER_FORBIDDEN. A key sent wins over a JWT.
 *  - With allow_jwt and no key, the JWT jwt_authn verified (info.jwt, run before this filter)
 *    authenticates as the consumer listing its (issuer, subject).
 *  - Accepted: info.consumer and info.plan are set (rate limits, logs, traces read them), the
 *    request goes upstream with `x-weft-consumer: <name>`, and without the key when
 *    hide_credentials. A client-sent x-weft-consumer never passes: it is removed on every route of
 *    a listener that runs this filter, with a policy there or not.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { hash } from 'node:crypto';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { KeyAuthPolicySchema, KeyAuthSchema, type KeyAuthPolicy } from '../../../proto/gen/weft/v1/key_auth_pb.js';
import type { Problems } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { ForwardingSink, RequestView, type Filter, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';

const FIELDS = supportedFields({
  'weft.v1.KeyAuth': ['policy'],
  'weft.v1.KeyAuthPolicy': ['name', 'header', 'query', 'hide_credentials', 'allow_jwt', 'consumers'],
  'weft.v1.KeyAuthConsumer': ['name', 'plan', 'allowed', 'keys', 'jwt_subjects'],
  'weft.v1.KeyAuthKey': ['id', 'sha256', 'expires'],
  'weft.v1.KeyAuthJwtSubject': ['issuer', 'subject'],
  'google.protobuf.Timestamp': ['seconds', 'nanos'],
});

/** The header that carries the consumer upstream (set here, never taken from the client). */
export const CONSUMER_HEADER = 'x-weft-consumer';
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const QUERY_NAME = /^[A-Za-z0-9._~-]+$/;
const CONSUMER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface ConsumerEntry {
  readonly name: string;
  readonly plan: string;
  readonly allowed: boolean;
}

interface KeyEntry {
  readonly consumer: ConsumerEntry;
  /** `<consumer>/<key id>`: info.apiKey (a rate-limit descriptor, never the key). */
  readonly label: string;
  /** ms since the epoch; Infinity: never expires. */
  readonly expiresMs: number;
}

/** A KeyAuthPolicy, compiled. */
export interface KeyAuthConfig {
  readonly name: string;
  readonly header: string;
  readonly query: string;
  readonly hideCredentials: boolean;
  readonly allowJwt: boolean;
  /** hex SHA-256 of a key -> its consumer. */
  readonly keys: ReadonlyMap<string, KeyEntry>;
  /** `issuer\nsubject` -> consumer. */
  readonly subjects: ReadonlyMap<string, ConsumerEntry>;
  /** The WWW-Authenticate value of a 401. */
  readonly challenge: string;
}

/** The listener's config: its own policy, or none (routes may carry theirs). */
export interface KeyAuthListener {
  readonly policy: KeyAuthConfig | undefined;
}

function compile(pol: KeyAuthPolicy, p: Problems, path: string): KeyAuthConfig | undefined {
  const before = p.errors.length;
  if (pol.header && !HEADER_NAME.test(pol.header)) p.add(`${path}.header`, `'${pol.header}' is not a lowercase header name`);
  if (pol.header === CONSUMER_HEADER) p.add(`${path}.header`, `${CONSUMER_HEADER} is set by this filter; it cannot carry a key`);
  if (pol.query && !QUERY_NAME.test(pol.query)) p.add(`${path}.query`, `'${pol.query}' is not a query parameter name`);
  if (!pol.header && !pol.query) p.add(path, 'needs header or query: where the key is read from');
  const keys = new Map<string, KeyEntry>();
  const subjects = new Map<string, ConsumerEntry>();
  const names = new Set<string>();
  pol.consumers.forEach((c, i) => {
    const q = `${path}.consumers[${i}]`;
    if (!CONSUMER_NAME.test(c.name)) p.add(`${q}.name`, `'${c.name}' is not a consumer name`);
    else if (names.has(c.name)) p.add(`${q}.name`, `consumer '${c.name}' is listed twice`);
    names.add(c.name);
    if (/[\r\n\0]/.test(c.plan)) p.add(`${q}.plan`, 'must not contain CR, LF or NUL');
    const entry: ConsumerEntry = Object.freeze({ name: c.name, plan: c.plan, allowed: c.allowed });
    c.keys.forEach((k, j) => {
      const kq = `${q}.keys[${j}]`;
      if (k.sha256.length !== 32) return p.add(`${kq}.sha256`, `must be a SHA-256 digest (32 bytes), got ${k.sha256.length}`);
      const hex = Buffer.from(k.sha256).toString('hex');
      if (keys.has(hex)) return p.add(`${kq}.sha256`, `the same key hash is also ${keys.get(hex)!.consumer.name}'s: one key names one consumer`);
      let expiresMs = Infinity;
      if (k.expires) {
        if (k.expires.nanos < 0 || k.expires.nanos > 999_999_999) return p.add(`${kq}.expires.nanos`, 'must be from 0 to 999999999');
        expiresMs = timestampMs(k.expires);
      }
      keys.set(hex, Object.freeze({ consumer: entry, label: `${c.name}/${k.id}`, expiresMs }));
    });
    c.jwtSubjects.forEach((s, j) => {
      const sq = `${q}.jwt_subjects[${j}]`;
      if (!s.issuer || !s.subject) return p.add(sq, 'needs issuer and subject');
      const k = `${s.issuer}\n${s.subject}`;
      if (subjects.has(k)) return p.add(sq, `issuer and subject are also ${subjects.get(k)!.name}'s: one subject names one consumer`);
      subjects.set(k, entry);
    });
  });
  if (p.errors.length > before) return undefined;
  const challenge = `ApiKey realm="weft"${pol.header ? `, header="${pol.header}"` : ''}${pol.query ? `, query="${pol.query}"` : ''}`;
  return Object.freeze({ name: pol.name, header: pol.header, query: pol.query, hideCredentials: pol.hideCredentials, allowJwt: pol.allowJwt, keys, subjects, challenge });
}

/**
 * The value of query parameter `name` in `search` ('?a=1&b=2'), percent-decoded; undefined when
 * absent or empty, null when it is not valid percent-encoding.
 */
export function queryParam(search: string, name: string): string | undefined | null {
  if (search.length < 2) return undefined;
  let i = 1;
  while (i < search.length) {
    let end = search.indexOf('&', i);
    if (end < 0) end = search.length;
    if (end - i > name.length && search.charCodeAt(i + name.length) === 61 /* = */ && search.startsWith(name, i)) {
      const raw = search.slice(i + name.length + 1, end);
      if (!raw) return undefined;
      if (!raw.includes('%') && !raw.includes('+')) return raw;
      try {
        return decodeURIComponent(raw.replace(/\+/g, ' '));
      } catch {
        return null;
      }
    }
    i = end + 1;
  }
  return undefined;
}

/** `search` without every `name=...` (and bare `name`) parameter; '' when nothing is left. */
export function withoutQueryParam(search: string, name: string): string {
  if (search.length < 2) return search;
  const kept: string[] = [];
  for (const part of search.slice(1).split('&')) {
    if (part === name || part.startsWith(`${name}=`)) continue;
    kept.push(part);
  }
  return kept.length ? `?${kept.join('&')}` : '';
}

/**
 * The request as the upstream gets it: x-weft-consumer is this filter's (or absent), and the key
 * is left out when the policy hides it.
 */
class KeyAuthRequest extends RequestView {
  constructor(
    req: RequestHead,
    private readonly consumer: string,
    /** Header to leave out ('' = none). */
    private readonly dropHeader: string,
    /** The query without the key; undefined: unchanged. */
    private readonly newSearch: string | undefined,
  ) {
    super(req);
  }
  override get search(): string {
    return this.newSearch ?? this.req.search;
  }
  override header(name: string): string | undefined {
    if (name === CONSUMER_HEADER) return this.consumer || undefined;
    if (name === this.dropHeader) return undefined;
    if (name === ':path' && this.newSearch !== undefined) return this.req.path + this.newSearch;
    return this.req.header(name);
  }
  override rawPairs(): string[] {
    const src = this.req.rawPairs();
    const out: string[] = [];
    for (let i = 0; i < src.length; i += 2) {
      const n = src[i]!;
      if (n !== CONSUMER_HEADER && n !== this.dropHeader) out.push(n, src[i + 1]!);
    }
    if (this.consumer) out.push(CONSUMER_HEADER, this.consumer);
    return out;
  }
}

/** A sink that adds WWW-Authenticate to the 401 the filter answers. */
class ChallengeSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    private readonly challenge: string,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    this.res.writeHead(status, { ...headers, 'www-authenticate': this.challenge }, endStream);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly({ ...headers, 'www-authenticate': this.challenge });
  }
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, { ...headers, 'www-authenticate': this.challenge }, body);
  }
}

function unauthorized(c: KeyAuthConfig, req: RequestHead, res: ResponseSink, info: RequestInfo, code: 'API_KEY_MISSING' | 'API_KEY_INVALID', message: string): void {
  respondError(req, new ChallengeSink(res, c.challenge), info, code, message);
}

/** Only removes a client-sent x-weft-consumer (a route of the listener without a policy). */
const stripOnly: Filter = (next) => (req, res, info) => {
  // A sub-request's x-weft-consumer is the proxy's own (its composed request's consumer).
  if (info.parent !== undefined || req.header(CONSUMER_HEADER) === undefined) next(req, res, info);
  else next(new KeyAuthRequest(req, '', '', undefined), res, info);
};

function keyAuthFilter(c: KeyAuthConfig): Filter {
  return (next) => (req, res, info) => {
    // A sub-request (an aggregation's call) is made as its composed request's consumer, already
    // authenticated; it carries that consumer's x-weft-consumer, set by this proxy.
    if (info.parent !== undefined) return next(req, res, info);
    let key: string | undefined | null;
    if (c.header) {
      key = req.header(c.header);
      if (key === '') key = undefined;
    }
    if (key === undefined && c.query) key = queryParam(req.search, c.query);
    let consumer: ConsumerEntry | undefined;
    let label = '';
    if (key === null) return unauthorized(c, req, res, info, 'API_KEY_INVALID', `the ${c.query} query parameter is not valid percent-encoding`);
    if (key !== undefined) {
      const e = c.keys.get(hash('sha256', key, 'hex'));
      if (!e) return unauthorized(c, req, res, info, 'API_KEY_INVALID', 'the API key is not valid');
      if (e.expiresMs !== Infinity && e.expiresMs <= Date.now()) return unauthorized(c, req, res, info, 'API_KEY_INVALID', 'the API key has expired');
      consumer = e.consumer;
      label = e.label;
    } else if (c.allowJwt && info.jwt) {
      consumer = c.subjects.get(`${info.jwt.issuer}\n${info.jwt.subject}`);
      if (!consumer) return unauthorized(c, req, res, info, 'API_KEY_MISSING', 'no API key, and the verified JWT\'s issuer and subject belong to no consumer');
    } else {
      return unauthorized(c, req, res, info, 'API_KEY_MISSING', `the request carries no API key (${c.header ? `header ${c.header}` : ''}${c.header && c.query ? ' or ' : ''}${c.query ? `query parameter ${c.query}` : ''})`);
    }
    if (!consumer.allowed) {
      info.consumer = consumer.name;
      info.plan = consumer.plan;
      respondError(req, res, info, 'CONSUMER_FORBIDDEN', `consumer ${consumer.name} may not call this API`);
      return;
    }
    info.consumer = consumer.name;
    info.plan = consumer.plan;
    info.apiKey = label;
    // Hidden: whichever of the header and the query parameter the policy reads (a request may carry both).
    const hide = c.hideCredentials;
    const search = hide && c.query && req.search.length > 1 ? withoutQueryParam(req.search, c.query) : undefined;
    next(new KeyAuthRequest(req, consumer.name, hide ? c.header : '', search !== undefined && search !== req.search ? search : undefined), res, info);
  };
}

export const keyAuth: HttpFilterFactory<KeyAuthListener, KeyAuthConfig> = {
  extension: EXTENSIONS.keyAuth,
  parse(any, p, path) {
    const m = unpackAny(any, KeyAuthSchema);
    if (!m) {
      p.add(path, 'is not a weft.v1.KeyAuth');
      return undefined;
    }
    checkSupported(KeyAuthSchema, m, FIELDS, p, path);
    if (!m.policy) return { policy: undefined };
    const policy = compile(m.policy, p, `${path}.policy`);
    return policy ? { policy } : undefined;
  },
  perRoute: {
    schema: KeyAuthPolicySchema,
    parse(any, p, path) {
      const m = unpackAny(any, KeyAuthPolicySchema);
      if (!m) {
        p.add(path, 'is not a weft.v1.KeyAuthPolicy');
        return undefined;
      }
      checkSupported(KeyAuthPolicySchema, m, FIELDS, p, path);
      return compile(m, p, path);
    },
  },
  create(config, perRoute) {
    const c = perRoute ?? config.policy;
    return c ? keyAuthFilter(c) : stripOnly;
  },
  explain(config, perRoute, r) {
    const c = perRoute ?? config.policy;
    if (!c) return { effect: 'applies', detail: `no API key policy here; a client's ${CONSUMER_HEADER} header is removed` };
    const where = [c.header ? `header ${c.header}` : '', c.query ? `query parameter ${c.query}` : ''].filter(Boolean).join(' or ');
    const carried = (c.header && r.header(c.header) !== undefined) || (c.query && queryParam(r.search, c.query) != null);
    // With allowJwt a verified JWT's subject may stand in for the key: whether it maps to a consumer is known only when the request is sent.
    const refused = !carried && !(c.allowJwt && r.header('authorization') !== undefined);
    return { effect: refused ? 'deny' : 'requires', detail: `policy ${c.name}: an API key in ${where}${c.allowJwt ? ' (or a JWT subject mapped to a consumer)' : ''}; without one: 401; this request ${carried ? 'carries a key (checked when it is sent)' : 'carries none'}`, ...(refused ? { refuses: '401 API_KEY_MISSING' } : {}) };
  },
};
