/**
 * Envoy's HTTP cache filter (envoy.filters.http.cache, CacheConfig): a shared cache of RFC 9111
 * in front of the router, for a gateway's responses. Its store comes in CacheConfig.typed_config:
 * Envoy's SimpleHttpCacheConfig (a memory store of DEFAULT_SIMPLE_BYTES for the whole process),
 * or Weft's MemoryHttpCacheConfig (an LRU bounded in bytes) or RedisHttpCacheConfig (shared by
 * replicas); both of Weft's carry CacheBehavior (tags, status header, heuristic freshness). A
 * route's CacheConfig replaces the listener's; a disabled one, or FilterConfig.disabled, turns the
 * cache off for the route.
 *
 * What a request meets (the status header, `x-cache` by default, says which; docs/gateway.md):
 *  - GET/HEAD only. Other methods pass through; a successful unsafe one (POST, PUT, PATCH,
 *    DELETE) invalidates the stored responses of its URL (RFC 9111 §4.4).
 *  - Range and Upgrade requests pass through (BYPASS).
 *  - HIT: a fresh stored response (Age computed per §4.2.3), honouring the request's max-age,
 *    min-fresh and no-cache; STALE: a stale one the request's max-stale accepts (never with
 *    must-revalidate, proxy-revalidate or s-maxage).
 *  - REVALIDATED: a stale (or no-cache) entry the origin confirmed with 304 to our conditional
 *    request (If-None-Match / If-Modified-Since from the entry's validators); the 304's headers
 *    refresh the stored entry. A full answer instead replaces it (MISS).
 *  - MISS: from the origin; stored when §3 allows it (understood status, no no-store / private,
 *    Authorization only with public / s-maxage / must-revalidate, Vary only on allowed fields
 *    and never `*`, no Set-Cookie, body within max_body_bytes, an explicit or configured
 *    heuristic lifetime). Identical concurrent misses are coalesced: one goes to the origin and
 *    the others are answered from its response (or, if it is not stored, go on their own).
 *  - A client's If-None-Match / If-Modified-Since is answered 304 from a stored 200.
 *  - only-if-cached with nothing usable: 504 CACHE_ONLY_IF_CACHED.
 * A store that fails (Redis down) fails open: the request goes to the origin.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { EXTENSIONS, isMessageType } from '../../../common/extensions.js';
import { CacheConfigSchema, type CacheConfig } from '../../../proto/gen/envoy/extensions/filters/http/cache/v3/cache_pb.js';
import { SimpleHttpCacheConfigSchema } from '../../../proto/gen/envoy/extensions/http/cache/simple_http_cache/v3/config_pb.js';
import { MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema, type CacheBehavior } from '../../../proto/gen/weft/v1/cache_pb.js';
import type { StringMatcher } from '../../../proto/gen/envoy/type/matcher/v3/string_pb.js';
import { checkDuration, type Problems, durationMs } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { ForwardingSink, type Filter, type Handler, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';
import { CacheStores, type Flight, type StoreHandle } from '../cache/stores.js';
import { primaryKey, type StoredHeaders, type StoredResponse } from '../cache/store.js';
import {
  currentAge,
  freshnessLifetime,
  initialAge,
  KEEP_ON_UPDATE,
  NOT_MODIFIED_HEADERS,
  notModified,
  notStorable,
  parseCacheControl,
  requestWants,
  usability,
  variantKey,
  varyNames,
  type Directives,
  type Head,
  type RequestWants,
} from '../cache/policy.js';

/** The process-wide store of Envoy's SimpleHttpCacheConfig (it has no size field). */
export const DEFAULT_SIMPLE_BYTES = 64 * 1024 * 1024;
const SIMPLE_STORE = 'envoy.extensions.http.cache.simple';

const FIELDS = supportedFields({
  'envoy.extensions.filters.http.cache.v3.CacheConfig': ['typed_config', 'disabled', 'allowed_vary_headers', 'max_body_bytes', 'ignore_request_cache_control_header'],
  'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'ignore_case'],
  'weft.v1.MemoryHttpCacheConfig': ['behavior', 'max_bytes'],
  'weft.v1.RedisHttpCacheConfig': ['behavior', 'address', 'key_prefix', 'command_timeout', 'database'],
  'weft.v1.CacheBehavior': ['name', 'tag_headers', 'status_header', 'default_ttl', 'stale_retention'],
});

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

export type StoreSpec =
  | { readonly kind: 'memory'; readonly name: string; readonly maxBytes: number }
  | { readonly kind: 'redis'; readonly name: string; readonly host: string; readonly port: number; readonly keyPrefix: string; readonly commandTimeoutMs: number; readonly database: number };

/** A CacheConfig, checked and compiled. */
export interface CacheFilterConfig {
  readonly disabled: boolean;
  readonly store: StoreSpec | undefined;
  readonly allowVary: (name: string) => boolean;
  /** Largest body stored (bytes). */
  readonly maxBodyBytes: number;
  readonly ignoreRequestCacheControl: boolean;
  readonly tagHeaders: readonly string[];
  readonly statusHeader: string;
  /** Heuristic freshness (seconds), or undefined: responses without a lifetime are not stored. */
  readonly heuristicS: number | undefined;
  readonly staleRetentionMs: number;
}

/** `any` as a `schema` message, or undefined with a problem at `path` (bytes that do not decode are a NACK, not a throw). */
function unpack<D extends DescMessage>(any: Any, schema: D, p: Problems, path: string): MessageShape<D> | undefined {
  try {
    const m = unpackAny(any, schema);
    if (m) return m as MessageShape<D>;
  } catch {
    /* reported below */
  }
  p.add(path, `is not a ${schema.typeName}`);
  return undefined;
}

const ms = (d: { seconds: bigint; nanos: number }): number => durationMs(d, 0);

function matcher(m: StringMatcher): (s: string) => boolean {
  const ic = m.ignoreCase;
  const norm = (s: string) => (ic ? s.toLowerCase() : s);
  const p = m.matchPattern;
  const v = norm(typeof p.value === 'string' ? p.value : '');
  switch (p.case) {
    case 'exact':
      return (s) => norm(s) === v;
    case 'prefix':
      return (s) => norm(s).startsWith(v);
    case 'suffix':
      return (s) => norm(s).endsWith(v);
    case 'contains':
      return (s) => norm(s).includes(v);
    default:
      return () => false;
  }
}

function behavior(b: CacheBehavior | undefined, p: Problems, path: string): Pick<CacheFilterConfig, 'tagHeaders' | 'statusHeader' | 'heuristicS' | 'staleRetentionMs'> & { name: string } {
  if (!b) {
    p.add(`${path}.behavior`, 'is required');
    return { name: '', tagHeaders: [], statusHeader: '', heuristicS: undefined, staleRetentionMs: 0 };
  }
  if (!b.name) p.add(`${path}.behavior.name`, 'is required (it names the store)');
  b.tagHeaders.forEach((h, i) => {
    if (!HEADER_NAME.test(h)) p.add(`${path}.behavior.tag_headers[${i}]`, `'${h}' is not a lowercase header name`);
  });
  if (b.statusHeader && !HEADER_NAME.test(b.statusHeader)) p.add(`${path}.behavior.status_header`, `'${b.statusHeader}' is not a lowercase header name`);
  if (b.defaultTtl) checkDuration(p, `${path}.behavior.default_ttl`, b.defaultTtl, { positive: true });
  if (b.staleRetention) checkDuration(p, `${path}.behavior.stale_retention`, b.staleRetention);
  return {
    name: b.name,
    tagHeaders: b.tagHeaders,
    statusHeader: b.statusHeader,
    heuristicS: b.defaultTtl ? Math.floor(ms(b.defaultTtl) / 1000) : undefined,
    staleRetentionMs: b.staleRetention ? ms(b.staleRetention) : 0,
  };
}

function compile(c: CacheConfig, p: Problems, path: string): CacheFilterConfig {
  checkSupported(CacheConfigSchema, c, FIELDS, p, path);
  c.allowedVaryHeaders.forEach((m, i) => {
    if (!m.matchPattern.case) p.add(`${path}.allowed_vary_headers[${i}]`, 'needs exact, prefix, suffix or contains');
  });
  const vary = c.allowedVaryHeaders.map(matcher);
  const base = {
    disabled: c.disabled === true,
    allowVary: (n: string) => vary.some((f) => f(n)),
    ignoreRequestCacheControl: c.ignoreRequestCacheControlHeader,
  };
  const none = { ...base, store: undefined, maxBodyBytes: 0, tagHeaders: [], statusHeader: '', heuristicS: undefined, staleRetentionMs: 0 };
  if (c.disabled === true) return none;
  const t = c.typedConfig;
  if (!t) {
    p.add(`${path}.typed_config`, 'is required unless disabled is set');
    return none;
  }
  const tp = `${path}.typed_config`;
  let store: StoreSpec;
  let b: ReturnType<typeof behavior>;
  if (isMessageType(t.typeUrl, SimpleHttpCacheConfigSchema)) {
    store = { kind: 'memory', name: SIMPLE_STORE, maxBytes: DEFAULT_SIMPLE_BYTES };
    b = { name: SIMPLE_STORE, tagHeaders: [], statusHeader: '', heuristicS: undefined, staleRetentionMs: 0 };
  } else if (isMessageType(t.typeUrl, MemoryHttpCacheConfigSchema)) {
    const m = unpack(t, MemoryHttpCacheConfigSchema, p, tp);
    if (!m) return none;
    checkSupported(MemoryHttpCacheConfigSchema, m, FIELDS, p, tp);
    b = behavior(m.behavior, p, tp);
    if (m.maxBytes <= 0n || m.maxBytes > BigInt(Number.MAX_SAFE_INTEGER)) p.add(`${tp}.max_bytes`, 'must be greater than 0');
    store = { kind: 'memory', name: b.name, maxBytes: Number(m.maxBytes) };
  } else if (isMessageType(t.typeUrl, RedisHttpCacheConfigSchema)) {
    const r = unpack(t, RedisHttpCacheConfigSchema, p, tp);
    if (!r) return none;
    checkSupported(RedisHttpCacheConfigSchema, r, FIELDS, p, tp);
    b = behavior(r.behavior, p, tp);
    const a = /^(.+):(\d{1,5})$/.exec(r.address);
    const port = a ? Number(a[2]) : 0;
    if (!a || port < 1 || port > 65535) p.add(`${tp}.address`, `'${r.address}' is not host:port`);
    if (r.commandTimeout) checkDuration(p, `${tp}.command_timeout`, r.commandTimeout, { positive: true, maxMs: 10_000 });
    if (r.database > 15) p.add(`${tp}.database`, 'must be 0..15');
    store = { kind: 'redis', name: b.name, host: (a?.[1] ?? '').replace(/^\[(.*)\]$/, '$1'), port, keyPrefix: r.keyPrefix || 'weft:cache:', commandTimeoutMs: r.commandTimeout ? ms(r.commandTimeout) : 250, database: r.database };
  } else {
    p.add(tp, `store ${t.typeUrl} is not one the Weft sidecar has (SimpleHttpCacheConfig, weft.v1.MemoryHttpCacheConfig, weft.v1.RedisHttpCacheConfig)`);
    return none;
  }
  const bound = store.kind === 'memory' ? store.maxBytes : Infinity;
  return { ...base, store, maxBodyBytes: Math.min(c.maxBodyBytes || bound, bound, 512 * 1024 * 1024), tagHeaders: b.tagHeaders, statusHeader: b.statusHeader, heuristicS: b.heuristicS, staleRetentionMs: b.staleRetentionMs };
}

function parse(any: Any, p: Problems, path: string): CacheFilterConfig | undefined {
  const c = unpack(any, CacheConfigSchema, p, path);
  return c && compile(c, p, path);
}

// ------------------------------------------------------------------------------ request path

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const CONDITIONAL = new Set(['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']);

const str = (v: string | string[] | number | undefined): string | undefined => (v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v));

function headOf(h: ResponseHeaders | StoredHeaders): Head {
  return { get: (n) => str(h[n]) };
}

/** The request sent to the origin: the client's conditional headers replaced by the cache's own. */
class OriginRequest implements RequestHead {
  constructor(
    private readonly req: RequestHead,
    private readonly set: ReadonlyMap<string, string>,
  ) {}
  get h2() {
    return this.req.h2;
  }
  get grpc() {
    return this.req.grpc;
  }
  get secure() {
    return this.req.secure;
  }
  get method() {
    return this.req.method;
  }
  get authority() {
    return this.req.authority;
  }
  get path() {
    return this.req.path;
  }
  get search() {
    return this.req.search;
  }
  get upgrade() {
    return this.req.upgrade;
  }
  get remoteAddress() {
    return this.req.remoteAddress;
  }
  get principal() {
    return this.req.principal;
  }
  get hasBody() {
    return this.req.hasBody;
  }
  get body() {
    return this.req.body;
  }
  header(name: string): string | undefined {
    return CONDITIONAL.has(name) ? this.set.get(name) : this.req.header(name);
  }
  rawPairs(): string[] {
    const raw = this.req.rawPairs();
    const out: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (!CONDITIONAL.has(raw[i]!)) out.push(raw[i]!, raw[i + 1]!);
    for (const [k, v] of this.set) out.push(k, v);
    return out;
  }
}

/** Adds the status header to a response the cache passes through. */
class StatusSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    private readonly header: string,
    private readonly status: string,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (this.header) headers[this.header] = this.status;
    super.writeHead(status, headers, endStream);
  }
}

/** An unsafe request's response: a non-error one invalidates the URL's stored responses (§4.4). */
class InvalidatingSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    private readonly h: StoreHandle,
    private readonly primary: string,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (status < 400) this.h.store.purgeKey(this.primary).catch(() => undefined);
    super.writeHead(status, headers, endStream);
  }
}

/** One GET or HEAD through the cache. */
class Lookup {
  readonly primary: string;
  readonly reqCc: Directives;
  readonly want: RequestWants;
  gone = false;
  readonly hdr: (name: string) => string | undefined;

  constructor(
    readonly c: CacheFilterConfig,
    readonly h: StoreHandle,
    readonly next: Handler,
    readonly req: RequestHead,
    readonly res: ResponseSink,
    readonly info: RequestInfo,
  ) {
    this.primary = primaryKey(req.secure, req.authority, req.path, req.search);
    this.reqCc = parseCacheControl(req.header('cache-control'));
    this.want = requestWants(this.reqCc, req.header('pragma'), c.ignoreRequestCacheControl);
    this.hdr = (n) => req.header(n);
  }

  start(): void {
    this.res.onClientGone(() => (this.gone = true));
    this.h.store.lookup(this.primary, this.hdr).then(
      (e) => this.decide(e),
      () => this.decide(undefined),
    );
  }

  decide(e: StoredResponse | undefined): void {
    if (this.gone) return;
    if (e) {
      const age = currentAge(e.initialAge, e.responseTime, Date.now());
      const u = usability(age, e.lifetime, parseCacheControl(e.headers['cache-control']), this.want);
      if (u === 'fresh') return this.serve(e, 'HIT', age);
      if (u === 'stale-ok') return this.serve(e, 'STALE', age);
    }
    if (this.want.onlyIfCached) {
      this.info.cacheStatus = 'MISS';
      this.h.counters.miss++;
      return respondError(this.req, this.res, this.info, 'CACHE_ONLY_IF_CACHED', 'only-if-cached: no stored response can be used');
    }
    if (this.req.method === 'HEAD') {
      // A HEAD is answered from a stored GET, but never stored nor coalesced itself.
      this.info.cacheStatus = 'MISS';
      this.h.counters.miss++;
      return this.next(this.req, new StatusSink(this.res, this.c.statusHeader, 'MISS'), this.info);
    }
    this.origin(e, true);
  }

  /** Answers from a stored response (the client's own conditional GET may get a 304). */
  serve(e: StoredResponse, status: 'HIT' | 'STALE' | 'REVALIDATED', age: number, coalesced = false): void {
    this.info.cacheStatus = status;
    const k = this.h.counters;
    if (status === 'HIT') k.hit++;
    else if (status === 'STALE') k.stale++;
    else k.revalidated++;
    if (coalesced) k.coalesced++;
    const res = this.res;
    if (e.status === 200 && notModified(this.req.header('if-none-match'), this.req.header('if-modified-since'), str(e.headers.etag), str(e.headers['last-modified']))) {
      const h: ResponseHeaders = { age: String(Math.floor(age)) };
      for (const n of NOT_MODIFIED_HEADERS) if (e.headers[n] !== undefined) h[n] = e.headers[n]!;
      if (this.c.statusHeader) h[this.c.statusHeader] = status;
      res.writeHead(304, h, true);
      return;
    }
    const h: ResponseHeaders = { ...e.headers, age: String(Math.floor(age)) };
    if (this.c.statusHeader) h[this.c.statusHeader] = status;
    const bodyless = e.status === 204 || e.status === 304;
    if (!bodyless) h['content-length'] = String(e.body.length);
    if (this.req.method === 'HEAD' || bodyless || e.body.length === 0) {
      res.writeHead(e.status, h, true);
      return;
    }
    res.writeHead(e.status, h, false);
    res.write(e.body);
    res.end(undefined);
  }

  /**
   * To the origin: as the leader of a flight for this URL (others wait for its result), or as a
   * follower of one already there. `stale`: the entry to revalidate.
   */
  origin(stale: StoredResponse | undefined, coalesce: boolean): void {
    const inflight = this.h.inflight;
    const f = coalesce ? inflight.get(this.primary) : undefined;
    if (f) {
      if (f.result) this.followed(f.result);
      else f.waiters.push((r) => this.followed(r));
      return;
    }
    const flight: Flight = { waiters: [] };
    if (coalesce) inflight.set(this.primary, flight);
    let done = false;
    const finish = (r: StoredResponse | undefined, stored?: Promise<void>) => {
      if (done) return;
      done = true;
      const ws = flight.waiters.splice(0);
      for (const w of ws) w(r);
      if (!coalesce) return;
      // Until the store has it, later requests for the URL are answered from this result too.
      if (r && stored) {
        flight.result = r;
        void stored.finally(() => inflight.get(this.primary) === flight && inflight.delete(this.primary));
      } else if (inflight.get(this.primary) === flight) inflight.delete(this.primary);
    };
    const set = new Map<string, string>();
    const etag = stale && str(stale.headers.etag);
    const lm = stale && str(stale.headers['last-modified']);
    if (etag !== undefined) set.set('if-none-match', etag);
    if (lm !== undefined) set.set('if-modified-since', lm);
    const sink = new CaptureSink(this, etag !== undefined || lm !== undefined ? stale : undefined, finish);
    this.next(new OriginRequest(this.req, set), sink, this.info);
  }

  /** A follower: served from the leader's response if it was stored for this request's variant. */
  followed(r: StoredResponse | undefined): void {
    if (this.gone) return;
    if (r && r.variant === variantKey(r.vary, this.hdr)) {
      const age = currentAge(r.initialAge, r.responseTime, Date.now());
      return this.serve(r, 'HIT', age, true);
    }
    this.origin(undefined, false);
  }
}

/** Where the origin's answer to a lookup goes: to the client, and into the store when it may be stored. */
class CaptureSink extends ForwardingSink {
  readonly #l: Lookup;
  readonly #stale: StoredResponse | undefined;
  readonly #finish: (r: StoredResponse | undefined, stored?: Promise<void>) => void;
  readonly #requestTime = Date.now();
  #chunks: Buffer[] | undefined;
  #n = 0;
  #pending: Omit<StoredResponse, 'body'> | undefined;
  /** A 304 was turned into the stored response: the rest of the origin's answer is dropped. */
  #swallow = false;

  constructor(l: Lookup, stale: StoredResponse | undefined, finish: (r: StoredResponse | undefined, stored?: Promise<void>) => void) {
    super(l.res);
    this.#l = l;
    this.#stale = stale;
    this.#finish = finish;
  }

  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    const l = this.#l;
    const c = l.c;
    const now = Date.now();
    const k = l.h.counters;
    if (status === 304 && this.#stale) {
      this.#swallow = true;
      const merged: StoredHeaders = { ...this.#stale.headers };
      for (const n in headers) if (!KEEP_ON_UPDATE.has(n) && n !== 'age') merged[n] = typeof headers[n] === 'number' ? String(headers[n]) : (headers[n] as string | string[]);
      const cc = parseCacheControl(merged['cache-control']);
      const e: StoredResponse = {
        ...this.#stale,
        headers: merged,
        responseTime: now,
        initialAge: initialAge(headOf(headers), this.#requestTime, now),
        lifetime: freshnessLifetime(headOf(merged), cc, c.heuristicS, this.#stale.status),
        // Stored under this request's variant (it matched the entry), which followers compare.
        variant: variantKey(this.#stale.vary, l.hdr),
      };
      const stored = notStorable(e.status, headOf(merged), cc, l.reqCc, l.req.header('authorization') !== undefined, c.heuristicS !== undefined) === undefined ? this.#insert(e) : undefined;
      this.#finish(e, stored);
      l.serve(e, 'REVALIDATED', currentAge(e.initialAge, e.responseTime, now));
      return;
    }
    l.info.cacheStatus = 'MISS';
    k.miss++;
    if (this.#stale) k.replaced++;
    const stored: StoredHeaders = {};
    for (const n in headers) if (n !== 'age' && n !== c.statusHeader) stored[n] = typeof headers[n] === 'number' ? String(headers[n]) : (headers[n] as string | string[]);
    const why = this.#notStorable(status, stored);
    if (why === undefined) {
      const cc = parseCacheControl(stored['cache-control']);
      const hd = headOf(stored);
      const vary = stored.vary === undefined ? [] : varyNames(str(stored.vary)!);
      const tags: string[] = [];
      for (const t of c.tagHeaders) {
        const v = str(stored[t]);
        if (v) for (const x of v.split(/[\s,]+/)) if (x && !tags.includes(x)) tags.push(x);
      }
      this.#pending = {
        status,
        headers: stored,
        responseTime: now,
        initialAge: initialAge(headOf(headers), this.#requestTime, now),
        lifetime: freshnessLifetime(hd, cc, c.heuristicS, status),
        vary,
        tags,
        variant: variantKey(vary, l.hdr),
      };
      this.#chunks = [];
    } else {
      k.notStored++;
      this.#finish(undefined);
    }
    if (c.statusHeader) headers[c.statusHeader] = 'MISS';
    super.writeHead(status, headers, endStream);
    if (endStream) this.#complete(undefined);
  }

  #notStorable(status: number, h: StoredHeaders): string | undefined {
    const l = this.#l;
    const c = l.c;
    const cc = parseCacheControl(h['cache-control']);
    const why = notStorable(status, headOf(h), cc, l.want.noStore ? l.reqCc : new Map(), l.req.header('authorization') !== undefined, c.heuristicS !== undefined);
    if (why) return why;
    if (h['set-cookie'] !== undefined) return 'set-cookie';
    if (h.vary !== undefined && !varyNames(str(h.vary)!).every((n) => c.allowVary(n))) return 'vary not allowed';
    const len = Number(str(h['content-length']) ?? 0);
    if (len > c.maxBodyBytes) return 'too large';
    return undefined;
  }

  override write(chunk: Buffer): boolean {
    if (this.#swallow) return true;
    if (this.#chunks) {
      this.#n += chunk.length;
      if (this.#n > this.#l.c.maxBodyBytes) {
        // Streamed through uncached; whoever waits for it goes to the origin now.
        this.#chunks = undefined;
        this.#pending = undefined;
        this.#l.h.counters.notStored++;
        this.#finish(undefined);
      } else this.#chunks.push(chunk);
    }
    return super.write(chunk);
  }

  override end(trailers: ResponseHeaders | undefined): void {
    if (this.#swallow) return;
    this.#complete(trailers);
    super.end(trailers);
  }

  #complete(trailers: ResponseHeaders | undefined): void {
    const p = this.#pending;
    const chunks = this.#chunks;
    this.#pending = undefined;
    this.#chunks = undefined;
    if (!p || !chunks || (trailers && Object.keys(trailers).length)) {
      if (p) this.#l.h.counters.notStored++;
      return this.#finish(undefined);
    }
    const e: StoredResponse = { ...p, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
    this.#finish(e, this.#insert(e));
  }

  #insert(e: StoredResponse): Promise<void> | undefined {
    const l = this.#l;
    const keepMs = Math.max(0, e.lifetime - e.initialAge) * 1000 + l.c.staleRetentionMs;
    if (keepMs <= 0) {
      l.h.counters.notStored++;
      return undefined;
    }
    l.h.counters.stored++;
    return l.h.store.insert(l.primary, e.variant ?? '', e, keepMs).catch(() => undefined);
  }

  /**
   * The router's "client gone" (an HTTP/1.1 downstream keeps one such callback, so the cache
   * adds its own to the router's rather than registering a second): those waiting on this
   * request go to the origin themselves.
   */
  override onClientGone(fn: () => void): void {
    super.onClientGone(() => {
      this.#finish(undefined);
      fn();
    });
  }

  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.#finish(undefined);
    super.respondSimple(status, headers, body);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.#finish(undefined);
    super.respondTrailersOnly(headers);
  }
  override abort(): void {
    this.#finish(undefined);
    super.abort();
  }
}

function cacheFilter(c: CacheFilterConfig, h: StoreHandle): Filter {
  return (next) => (req, res, info) => {
    const m = req.method;
    if (m !== 'GET' && m !== 'HEAD') {
      if (UNSAFE.has(m)) return next(req, new InvalidatingSink(res, h, primaryKey(req.secure, req.authority, req.path, req.search)), info);
      return next(req, res, info);
    }
    if (req.upgrade !== undefined || req.header('range') !== undefined) {
      info.cacheStatus = 'BYPASS';
      h.counters.bypass++;
      return next(req, new StatusSink(res, c.statusHeader, 'BYPASS'), info);
    }
    new Lookup(c, h, next, req, res, info).start();
  };
}

/** Stores for chains composed without a Runtime (benches): one set per process. */
let fallback: CacheStores | undefined;

export function storeFor(caches: CacheStores, s: StoreSpec): StoreHandle {
  return s.kind === 'memory' ? caches.memory(s.name, s.maxBytes) : caches.redis(s.name, { host: s.host, port: s.port, keyPrefix: s.keyPrefix, commandTimeoutMs: s.commandTimeoutMs, database: s.database });
}

export const cache: HttpFilterFactory<CacheFilterConfig, CacheFilterConfig> = {
  extension: EXTENSIONS.cache,
  parse,
  perRoute: { schema: EXTENSIONS.cachePolicy.schema, parse },
  create(cfg, route, ctx) {
    const c = route ?? cfg;
    if (c.disabled || !c.store) return undefined;
    return cacheFilter(c, storeFor(ctx.caches ?? (fallback ??= new CacheStores()), c.store));
  },
};
