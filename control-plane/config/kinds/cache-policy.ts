/**
 * CachePolicy (weft.dev/v1alpha1, namespaced): HTTP response caching at a gateway, as a shared
 * cache of RFC 9111, translated to Envoy's cache filter (envoy.filters.http.cache). It attaches
 * to Gateways or their listeners through `spec.targetRefs`, and to HTTPRoute rules (of routes
 * attached to Gateways) through an ExtensionRef, which replaces the listener's policy for that
 * rule; a `disabled: true` policy is the opt-out. Entries live in an in-memory LRU per gateway
 * process (`maxBytes`), or in Redis shared by every replica (`redis`).
 */
import type { CachePolicySpec, CacheRedisStore } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

const KI = 1024;
const MI = KI * 1024;
const GI = MI * 1024;
/** Envoy's max_body_bytes is a uint32; a buffered object that big would not be sane anyway. */
const MAX_OBJECT_BYTES = 512 * MI;
const MAX_MEMORY_BYTES = 16 * GI;

export const CACHE_DEFAULTS = Object.freeze({
  maxBytes: 64 * MI,
  maxObjectBytes: 1 * MI,
  tagHeaders: Object.freeze(['cache-tag', 'surrogate-key']),
  statusHeader: 'x-cache',
  staleRetentionMs: 600_000,
  allowedVaryHeaders: Object.freeze(['accept-encoding']),
  redisCommandTimeoutMs: 250,
});

const FIELDS = ['targetRefs', 'disabled', 'maxBytes', 'maxObjectBytes', 'redis', 'tagHeaders', 'statusHeader', 'defaultTtl', 'staleRetention', 'allowedVaryHeaders', 'ignoreRequestCacheControl'] as const;

/** A byte quantity: an integer, or a string like `64Mi`, `512Ki`, `1Gi`. */
export function readBytes(r: Reader, v: unknown, p: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  let n: number | undefined;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'string') {
    const m = /^(\d{1,12})(Ki|Mi|Gi)?$/.exec(v);
    if (m) n = Number(m[1]) * (m[2] === 'Ki' ? KI : m[2] === 'Mi' ? MI : m[2] === 'Gi' ? GI : 1);
  }
  if (n === undefined) {
    r.err(p, `must be a byte count like 1048576, 512Ki, 64Mi or 1Gi, got ${JSON.stringify(v)}`);
    return undefined;
  }
  if (n < min || n > max) {
    r.err(p, `must be from ${min} to ${max} bytes, got ${n}`);
    return undefined;
  }
  return n;
}

function readHeaderList(r: Reader, v: unknown, p: string, dflt: readonly string[]): string[] {
  if (v === undefined || v === null) return [...dflt];
  const seen = new Set<string>();
  return r.arr(v, p, (x, q) => {
    const h = r.headerName(x, q)?.toLowerCase();
    if (h === undefined) return undefined;
    if (seen.has(h)) {
      r.err(q, `'${h}' is listed twice`);
      return undefined;
    }
    seen.add(h);
    return h;
  });
}

const ADDRESS = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?|\[[0-9a-f:]+\]):(\d{1,5})$/i;

function readRedis(r: Reader, v: unknown): CacheRedisStore | undefined {
  const o = r.obj(v, 'spec.redis', ['address', 'keyPrefix', 'commandTimeout', 'database'], ['address']);
  if (!o) return undefined;
  const address = r.str(o.address, 'spec.redis.address', { nonEmpty: true, pattern: ADDRESS, patternHelp: 'host:port' });
  if (address !== undefined) {
    const port = Number(ADDRESS.exec(address)![3]);
    if (port < 1 || port > 65535) r.err('spec.redis.address', `port ${port} is not from 1 to 65535`);
  }
  const keyPrefix = r.str(o.keyPrefix, 'spec.redis.keyPrefix', { nonEmpty: true, pattern: /^[\x21-\x7e]{1,128}$/, patternHelp: '1 to 128 printable ASCII characters without spaces' });
  const commandTimeoutMs = r.duration(o.commandTimeout, 'spec.redis.commandTimeout', { min: 1 });
  if (commandTimeoutMs !== undefined && commandTimeoutMs > 10_000) r.err('spec.redis.commandTimeout', 'must be at most 10s (requests wait for it)');
  const database = r.int(o.database, 'spec.redis.database', 0, 15);
  if (address === undefined) return undefined;
  return { address, ...(keyPrefix !== undefined ? { keyPrefix } : {}), commandTimeoutMs: commandTimeoutMs ?? CACHE_DEFAULTS.redisCommandTimeoutMs, database: database ?? 0 };
}

export function readCachePolicy(r: Reader, v: unknown): CachePolicySpec | undefined {
  const o = r.obj(v, 'spec', FIELDS);
  if (!o) {
    if (v === undefined || v === null) r.err('spec', 'is required');
    return undefined;
  }
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false });
  const disabled = r.bool(o.disabled, 'spec.disabled');
  if (disabled === false) r.err('spec.disabled', 'must be true, or left out');
  if (disabled) {
    for (const k of FIELDS) if (k !== 'targetRefs' && k !== 'disabled' && o[k] !== undefined && o[k] !== null) r.err(`spec.${k}`, 'has no effect in a disabled policy (an opt-out caches nothing)');
    return { targetRefs, disabled: true, maxObjectBytes: 0, tagHeaders: [], statusHeader: '', staleRetentionMs: 0, allowedVaryHeaders: [], ignoreRequestCacheControl: false };
  }
  const redis = o.redis === undefined || o.redis === null ? undefined : readRedis(r, o.redis);
  if (redis && o.maxBytes !== undefined && o.maxBytes !== null) r.err('spec.maxBytes', 'bounds the in-memory store; with redis the entries live in Redis (bound it with Redis maxmemory)');
  const maxBytes = redis ? undefined : (readBytes(r, o.maxBytes, 'spec.maxBytes', 1, MAX_MEMORY_BYTES) ?? CACHE_DEFAULTS.maxBytes);
  const maxObjectBytes = readBytes(r, o.maxObjectBytes, 'spec.maxObjectBytes', 1, MAX_OBJECT_BYTES) ?? Math.min(CACHE_DEFAULTS.maxObjectBytes, maxBytes ?? Infinity);
  if (maxBytes !== undefined && maxObjectBytes > maxBytes) r.err('spec.maxObjectBytes', `must not exceed maxBytes (${maxBytes})`);
  const tagHeaders = readHeaderList(r, o.tagHeaders, 'spec.tagHeaders', CACHE_DEFAULTS.tagHeaders);
  const statusHeader = o.statusHeader === undefined || o.statusHeader === null ? CACHE_DEFAULTS.statusHeader : (r.headerName(o.statusHeader, 'spec.statusHeader')?.toLowerCase() ?? CACHE_DEFAULTS.statusHeader);
  const defaultTtlMs = r.duration(o.defaultTtl, 'spec.defaultTtl', { min: 1000 });
  const staleRetentionMs = r.duration(o.staleRetention, 'spec.staleRetention') ?? CACHE_DEFAULTS.staleRetentionMs;
  const allowedVaryHeaders = readHeaderList(r, o.allowedVaryHeaders, 'spec.allowedVaryHeaders', CACHE_DEFAULTS.allowedVaryHeaders);
  const ignoreRequestCacheControl = r.bool(o.ignoreRequestCacheControl, 'spec.ignoreRequestCacheControl') ?? false;
  return {
    targetRefs,
    disabled: false,
    ...(maxBytes !== undefined ? { maxBytes } : {}),
    maxObjectBytes,
    ...(redis ? { redis } : {}),
    tagHeaders,
    statusHeader,
    ...(defaultTtlMs !== undefined ? { defaultTtlMs } : {}),
    staleRetentionMs,
    allowedVaryHeaders,
    ignoreRequestCacheControl,
  };
}

const mib = (n: number) => (n % MI === 0 ? `${n / MI}Mi` : n % KI === 0 ? `${n / KI}Ki` : `${n}B`);

export const cachePolicyKind: KindDefinition<'CachePolicy'> = {
  kind: 'CachePolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'cachepolicies',
  shortNames: [],
  read: (r, spec) => readCachePolicy(r, spec),
  references(res, ctx) {
    targetRefReferences(res, ctx.model.cachePolicies.values(), ctx);
  },
  addToModel: (b, res) => void b.cachePolicies.set(`CachePolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const s = res.spec;
    const where = s.targetRefs.length ? ` -> ${s.targetRefs.map((t) => `gateway/${t.name}${t.sectionName ? `/${t.sectionName}` : ''}`).join(', ')}` : '';
    if (s.disabled) return `disabled${where}`;
    return `${s.redis ? `redis ${s.redis.address}` : `memory ${mib(s.maxBytes!)}`}, objects <= ${mib(s.maxObjectBytes)}${where}`;
  },
};
