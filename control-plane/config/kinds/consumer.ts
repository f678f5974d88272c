/**
 * Consumer (weft.dev/v1alpha1, namespaced): who calls an API. A consumer has a plan (rate limits
 * and analytics read it), labels (metadata.labels: ApiKeyPolicies select consumers by them), API
 * keys and JWT subjects.
 *
 * Keys are stored only as `sha256:<hex>` of the key string, with an id that names the key and
 * optional created / expires times; the key itself is shown once, when `weft key issue` makes it.
 * A fast unsalted SHA-256 is the right hash here (not bcrypt or argon2): an API key is 32 random
 * bytes, so there is nothing to guess by brute force and no dictionary to precompute, and a proxy
 * must find the consumer from the key on every request with one hash and one Map lookup. A slow
 * password hash would cost milliseconds per request and protect nothing more.
 *
 * `jwtSubjects` map a verified JWT (issuer, subject) to this consumer, for ApiKeyPolicies with
 * `allowJwt`. A key hash, a key id within the consumer, or a JWT subject claimed by two consumers
 * is refused with the path of both: a request must name one consumer.
 */
import type { ConsumerKey, ConsumerResource, ConsumerSpec, JwtSubjectRef, MeshModel } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';

/** `sha256:` and 64 lowercase hex digits. */
export const KEY_HASH = /^sha256:[0-9a-f]{64}$/;
/** A key id: what `weft key issue` makes (and puts in the key), or any short name of the operator's. */
export const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/;
const PLAN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** RFC 3339 date-time (the form Date.prototype.toISOString writes, offsets too). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function readTime(r: Reader, v: unknown, p: string): string | undefined {
  const s = r.str(v, p, { pattern: RFC3339, patternHelp: 'an RFC 3339 time such as 2027-01-31T00:00:00Z' });
  if (s === undefined) return undefined;
  if (Number.isNaN(Date.parse(s))) {
    r.err(p, `'${s}' is not a real time`);
    return undefined;
  }
  return s;
}

function readKey(r: Reader, v: unknown, p: string): ConsumerKey | undefined {
  const o = r.obj(v, p, ['id', 'hash', 'created', 'expires']);
  if (!o) {
    if (v === undefined || v === null) r.err(p, 'is required');
    return undefined;
  }
  const id = r.str(o.id, `${p}.id`, { required: true, pattern: KEY_ID, patternHelp: 'a key id (letters, digits and -, at most 32)' });
  const hash = r.str(o.hash, `${p}.hash`, {
    required: true,
    pattern: KEY_HASH,
    patternHelp: "a key hash 'sha256:<64 lowercase hex digits>' (Consumers store hashes, never keys: use `weft key issue`)",
  });
  const created = readTime(r, o.created, `${p}.created`);
  const expires = readTime(r, o.expires, `${p}.expires`);
  if (created && expires && Date.parse(expires) <= Date.parse(created)) r.err(`${p}.expires`, `${expires} is not after created (${created})`);
  if (id === undefined || hash === undefined) return undefined;
  const key: ConsumerKey = { id, hash };
  if (created) key.created = created;
  if (expires) key.expires = expires;
  return key;
}

function readSubject(r: Reader, v: unknown, p: string): JwtSubjectRef | undefined {
  const o = r.obj(v, p, ['issuer', 'subject']);
  if (!o) {
    if (v === undefined || v === null) r.err(p, 'is required');
    return undefined;
  }
  const issuer = r.str(o.issuer, `${p}.issuer`, { required: true });
  const subject = r.str(o.subject, `${p}.subject`, { required: true });
  return issuer === undefined || subject === undefined ? undefined : { issuer, subject };
}

function noDuplicates<T>(r: Reader, list: readonly T[], p: string, key: (x: T) => string, field: string, what: string): void {
  const seen = new Map<string, number>();
  list.forEach((x, i) => {
    const k = key(x);
    const j = seen.get(k);
    if (j !== undefined) r.err(`${p}[${i}]${field}`, `${what} is the same as ${p}[${j}]'s`);
    else seen.set(k, i);
  });
}

export function readConsumer(r: Reader, v: unknown): ConsumerSpec | undefined {
  const o = v === undefined || v === null ? {} : r.obj(v, 'spec', ['plan', 'keys', 'jwtSubjects']);
  if (!o) return undefined;
  const plan = o.plan === '' ? '' : r.str(o.plan, 'spec.plan', { pattern: PLAN, patternHelp: 'a plan name (letters, digits, ., _ and -, at most 63)' }) ?? '';
  const keys = r.arr(o.keys, 'spec.keys', (x, q) => readKey(r, x, q), { max: 64 });
  const jwtSubjects = r.arr(o.jwtSubjects, 'spec.jwtSubjects', (x, q) => readSubject(r, x, q), { max: 256 });
  noDuplicates(r, keys, 'spec.keys', (k) => k.id, '.id', 'key id');
  noDuplicates(r, keys, 'spec.keys', (k) => k.hash, '.hash', 'key hash');
  noDuplicates(r, jwtSubjects, 'spec.jwtSubjects', (s) => `${s.issuer}\n${s.subject}`, '', 'issuer and subject');
  return { plan, keys, jwtSubjects };
}

/** Where each key hash and each JWT subject is claimed, over a whole model (built once per model). */
interface Claims {
  readonly hashes: ReadonlyMap<string, ReadonlyArray<readonly [owner: string, path: string]>>;
  readonly subjects: ReadonlyMap<string, ReadonlyArray<readonly [owner: string, path: string]>>;
}
const CLAIMS = new WeakMap<MeshModel, Claims>();

function claims(m: MeshModel): Claims {
  let c = CLAIMS.get(m);
  if (c) return c;
  const hashes = new Map<string, Array<readonly [string, string]>>();
  const subjects = new Map<string, Array<readonly [string, string]>>();
  const add = (map: Map<string, Array<readonly [string, string]>>, k: string, v: readonly [string, string]) => {
    const list = map.get(k);
    if (list) list.push(v);
    else map.set(k, [v]);
  };
  for (const res of m.consumers.values()) {
    const owner = `${res.metadata.namespace}/${res.metadata.name}`;
    res.spec.keys.forEach((k, i) => add(hashes, k.hash, [owner, `spec.keys[${i}].hash`]));
    res.spec.jwtSubjects.forEach((s, i) => add(subjects, `${s.issuer}\n${s.subject}`, [owner, `spec.jwtSubjects[${i}]`]));
  }
  c = { hashes, subjects };
  CLAIMS.set(m, c);
  return c;
}

/** Consumer names the per-consumer metrics keep for themselves. */
const RESERVED_NAMES: ReadonlySet<string> = new Set(['anonymous', 'other']);

export const consumerKind: KindDefinition<'Consumer'> = {
  kind: 'Consumer',
  apiVersions: [API_VERSION_WEFT],
  plural: 'consumers',
  shortNames: [],
  read: (r, spec) => readConsumer(r, spec),
  references(res, ctx) {
    // The analytics' own label values (sidecar/telemetry/consumer-stats.ts): a consumer so named
    // would be counted with the requests of no consumer, or of the consumers past the label bound.
    if (RESERVED_NAMES.has(res.metadata.name)) ctx.err('metadata.name', `'${res.metadata.name}' is reserved: metrics and weft stat use it for ${res.metadata.name === 'anonymous' ? 'requests without a consumer' : 'the consumers past the label bound'}`);
    const c = claims(ctx.model);
    const me = `${res.metadata.namespace}/${res.metadata.name}`;
    const other = (list: ReadonlyArray<readonly [string, string]> | undefined) => list?.find(([o]) => o !== me);
    res.spec.keys.forEach((k, i) => {
      const o = other(c.hashes.get(k.hash));
      if (o) ctx.err(`spec.keys[${i}].hash`, `the same key hash is Consumer ${o[0]}'s (${o[1]}): one key names one consumer`);
    });
    res.spec.jwtSubjects.forEach((s, i) => {
      const o = other(c.subjects.get(`${s.issuer}\n${s.subject}`));
      if (o) ctx.err(`spec.jwtSubjects[${i}]`, `issuer ${s.issuer} subject ${s.subject} is also Consumer ${o[0]}'s (${o[1]}): one JWT subject names one consumer`);
    });
  },
  addToModel: (b, res) => void b.consumers.set(`Consumer/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res: ConsumerResource) {
    const { plan, keys, jwtSubjects } = res.spec;
    const labels = Object.entries(res.metadata.labels).map(([k, v]) => `${k}=${v}`);
    return [plan ? `plan ${plan}` : 'no plan', `${keys.length} key(s)${keys.length ? ` (${keys.map((k) => k.id).join(', ')})` : ''}`, ...(jwtSubjects.length ? [`${jwtSubjects.length} JWT subject(s)`] : []), ...(labels.length ? [`labels ${labels.join(',')}`] : [])].join('; ');
  },
};
