/**
 * Weft's rate-limit and quota filter (weft.filters.http.ratelimit, weft.v1.RateLimit), from a
 * RateLimitPolicy. A route's RateLimit replaces the listener's; one with no rules is not run.
 *
 * Per request, each rule builds its descriptor value from the request (consumer, plan, a JWT
 * claim, client IP, a header, route, service); a rule whose value is missing is skipped (or
 * counted under its missing_value). Then:
 *  - local rules take a token from their bucket in this process (capacity `requests`, refilled
 *    evenly over the window); an empty bucket answers 429 RATE_LIMITED at once;
 *  - global rules (a sliding window) and quotas (calendar windows in UTC) are decided together
 *    by a Lua script in Redis (ratelimit/stores.ts; the requests of one event-loop turn share a
 *    call): a request is admitted only if every counter has room, and only then counted in each,
 *    so N replicas together admit the limit, not N times it. A quota at its limit answers 429
 *    QUOTA_EXCEEDED, a rule 429 RATE_LIMITED. Local rules run first and spend their token even
 *    when a global rule then refuses.
 *  - Redis not answering within the policy's timeout: fail_mode OPEN admits (failed_open),
 *    CLOSED answers 503 RATE_LIMIT_UNAVAILABLE (failed_closed).
 *
 * Answers carry the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-09, structured
 * fields): `RateLimit-Policy: "<rule>";q=<requests>;w=<window s>` and
 * `RateLimit: "<rule>";r=<remaining>;t=<seconds until capacity frees>`, for the rule with the
 * least room left, on admitted responses and on the 429 (which also has Retry-After).
 *
 * The request path builds one string per counted rule (its key) and the two header values, and
 * waits for Redis as an object (Pending), not closures: descriptor readers, key heads and the
 * RateLimit-Policy values per plan are built when the config is.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { RateLimit_FailMode, RateLimitRule_QuotaPeriod, RateLimitRule_Scope, RateLimitSchema, type RateLimit } from '../../../proto/gen/weft/v1/ratelimit_pb.js';
import type { Problems } from '../../xds/types/decoded.js';
import { durationMs } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { ForwardingSink, type Filter, type Handler, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';
import { RateLimitStores, MAX_LOCAL_BUCKETS, type Bucket, type RateLimitDecisions, type RateLimitRedis, type RateLimitWaiter } from '../ratelimit/stores.js';
import type { CompiledRoute } from '../../routing/route-table.js';

const FIELDS = supportedFields({
  'weft.v1.RateLimit': ['policy', 'rules', 'redis', 'fail_mode'],
  'weft.v1.RateLimitRedis': ['address', 'key_prefix', 'timeout'],
  'weft.v1.RateLimitRule': ['name', 'descriptor', 'requests', 'window', 'scope', 'plan_requests', 'count_missing', 'missing_value', 'quota_period'],
  'weft.v1.DescriptorEntry': ['consumer', 'plan', 'jwt_claim', 'client_ip', 'header', 'route', 'service', 'api_key'],
});

const ADDRESS = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?|\[[0-9a-f:]+\]):(\d{1,5})$/i;
const HOUR = 3_600_000;
const DAY = 86_400_000;

// ----------------------------------------------------------------------------------- compiled

/** What a descriptor part reads (a code, not a closure: one switch per part per request). */
const enum Part {
  Consumer,
  Plan,
  JwtClaim,
  ClientIp,
  Header,
  Route,
  Service,
  ApiKey,
}

interface CompiledPart {
  readonly part: Part;
  /** The claim or header name. */
  readonly arg: string;
}

/** A calendar window (UTC) of a quota: recomputed only when the clock passes its end. */
interface QuotaWindow {
  start: number;
  end: number;
  /** The key up to the descriptor value: prefix, rule, window start. */
  keyHead: string;
}

export interface CompiledRule {
  readonly name: string;
  readonly parts: readonly CompiledPart[];
  readonly missing: string | undefined;
  readonly requests: number;
  readonly plans: ReadonlyMap<string, number> | undefined;
  /** A rate limit's window; a quota's is the current calendar window's. */
  readonly windowMs: number;
  readonly bucketMs: number;
  readonly local: boolean;
  readonly quota: RateLimitRule_QuotaPeriod;
  /** Sliding windows: prefix + 'r:' + name + ':' (the whole key adds the value); quotas: prefix + 'q:' + name + ':' (then the window's start, epoch seconds, and the value). */
  readonly keyHead: string;
  /** RateLimit-Policy values by limit (the default and each plan's), built here. */
  readonly policyValue: Map<number, string>;
  /** `"name";r=` */
  readonly rateHead: string;
  readonly window: QuotaWindow | undefined;
}

export interface RateLimitConfig {
  readonly policy: string;
  readonly rules: readonly CompiledRule[];
  readonly redis: { readonly host: string; readonly port: number; readonly timeoutMs: number } | undefined;
  readonly failClosed: boolean;
}

// ---------------------------------------------------------------------------------- parsing

/** A sf-string (RFC 8941): printable ASCII with `"` and `\` escaped. */
function sfString(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

/** The calendar window containing `now` (UTC); weeks start on Monday. */
export function calendarWindow(period: RateLimitRule_QuotaPeriod, now: number): { start: number; end: number } {
  switch (period) {
    case RateLimitRule_QuotaPeriod.HOUR: {
      const start = Math.floor(now / HOUR) * HOUR;
      return { start, end: start + HOUR };
    }
    case RateLimitRule_QuotaPeriod.DAY: {
      const start = Math.floor(now / DAY) * DAY;
      return { start, end: start + DAY };
    }
    case RateLimitRule_QuotaPeriod.WEEK: {
      const day = Math.floor(now / DAY);
      // 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays.
      const start = (day - ((day + 3) % 7)) * DAY;
      return { start, end: start + 7 * DAY };
    }
    default: {
      const d = new Date(now);
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      return { start, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
    }
  }
}

function parse(any: Any, p: Problems, path: string): RateLimitConfig | undefined {
  const m = unpackAny(any, RateLimitSchema);
  if (!m) {
    p.add(path, 'is not a weft.v1.RateLimit');
    return undefined;
  }
  const before = p.errors.length;
  checkSupported(RateLimitSchema, m, FIELDS, p, path);
  return compile(m, p, path, before);
}

/** Checks and compiles a RateLimit (exported for in-process tests). */
export function compile(m: RateLimit, p: Problems, path: string, before = p.errors.length): RateLimitConfig | undefined {
  if (m.rules.length === 0) {
    if (m.redis) p.add(`${path}.redis`, 'has no effect without rules');
    if (m.failMode !== RateLimit_FailMode.OPEN) p.add(`${path}.fail_mode`, 'has no effect without rules');
    return p.errors.length > before ? undefined : { policy: m.policy, rules: [], redis: undefined, failClosed: false };
  }
  if (!m.policy) p.add(`${path}.policy`, 'is required with rules (it names the metrics)');
  let redis: RateLimitConfig['redis'];
  let prefix = '';
  if (m.redis) {
    const q = `${path}.redis`;
    const a = ADDRESS.exec(m.redis.address);
    const port = a ? Number(a[3]) : 0;
    if (!a || port < 1 || port > 65535) p.add(`${q}.address`, `'${m.redis.address}' is not host:port`);
    if (!m.redis.keyPrefix) p.add(`${q}.key_prefix`, 'is required');
    const timeoutMs = durationMs(m.redis.timeout, 0);
    if (timeoutMs <= 0 || timeoutMs > 10_000) p.add(`${q}.timeout`, 'must be more than 0 and at most 10s');
    const host = a ? a[1]!.replace(/^\[|\]$/g, '') : '';
    redis = { host, port, timeoutMs };
    prefix = m.redis.keyPrefix;
  }
  const names = new Set<string>();
  const rules: CompiledRule[] = [];
  let global = false;
  m.rules.forEach((r, i) => {
    const q = `${path}.rules[${i}]`;
    if (!r.name) p.add(`${q}.name`, 'is required');
    else if (names.has(r.name)) p.add(`${q}.name`, `'${r.name}' is used by another rule`);
    names.add(r.name);
    if (r.descriptor.length === 0) p.add(`${q}.descriptor`, 'needs at least one entry');
    const parts: CompiledPart[] = [];
    r.descriptor.forEach((d, j) => {
      const k = d.kind;
      switch (k.case) {
        case 'consumer':
          return void parts.push({ part: Part.Consumer, arg: '' });
        case 'plan':
          return void parts.push({ part: Part.Plan, arg: '' });
        case 'clientIp':
          return void parts.push({ part: Part.ClientIp, arg: '' });
        case 'route':
          return void parts.push({ part: Part.Route, arg: '' });
        case 'service':
          return void parts.push({ part: Part.Service, arg: '' });
        case 'apiKey':
          return void parts.push({ part: Part.ApiKey, arg: '' });
        case 'jwtClaim':
          if (!k.value) p.add(`${q}.descriptor[${j}].jwt_claim`, 'is empty');
          return void parts.push({ part: Part.JwtClaim, arg: k.value });
        case 'header':
          if (!k.value || k.value !== k.value.toLowerCase()) p.add(`${q}.descriptor[${j}].header`, 'must be a lowercase header name');
          return void parts.push({ part: Part.Header, arg: k.value });
        default:
          p.add(`${q}.descriptor[${j}]`, 'sets no entry kind');
      }
    });
    if (r.requests < 1) p.add(`${q}.requests`, 'must be at least 1');
    if (r.countMissing !== (r.missingValue !== '')) p.add(`${q}.missing_value`, 'is set exactly when count_missing is');
    const local = r.scope === RateLimitRule_Scope.LOCAL;
    const quota = r.quotaPeriod;
    let windowMs = durationMs(r.window, 0);
    if (quota !== RateLimitRule_QuotaPeriod.NONE) {
      if (r.window) p.add(`${q}.window`, 'is the calendar window of quota_period for a quota');
      if (local) p.add(`${q}.scope`, 'a quota is counted in Redis (GLOBAL)');
      windowMs = 0;
    } else if (windowMs < 1000 || windowMs % 1000 !== 0 || windowMs > DAY) p.add(`${q}.window`, 'must be whole seconds from 1s to 24h');
    if (!local) global = true;
    const plans = Object.keys(r.planRequests).length ? new Map(Object.entries(r.planRequests)) : undefined;
    const policyValue = new Map<number, string>();
    const head = sfString(r.name);
    const w = (ms: number) => (ms > 0 ? `;w=${ms / 1000}` : '');
    for (const n of [r.requests, ...(plans?.values() ?? [])]) policyValue.set(n, `${head};q=${n}${w(windowMs)}`);
    rules.push({
      name: r.name,
      parts,
      missing: r.countMissing ? r.missingValue : undefined,
      requests: r.requests,
      plans,
      windowMs,
      // 50 buckets per window: a whole number of ms for any whole-second window, so the buckets
      // tile the window exactly and a reset is never past the window.
      bucketMs: windowMs / 50,
      local,
      quota,
      keyHead: `${prefix}${quota === RateLimitRule_QuotaPeriod.NONE ? 'r' : 'q'}:${r.name}:`,
      policyValue,
      rateHead: `${head};r=`,
      window: quota === RateLimitRule_QuotaPeriod.NONE ? undefined : { start: 0, end: 0, keyHead: '' },
    });
  });
  if (global && !m.redis) p.add(`${path}.redis`, 'is required: a rule is global or a quota');
  if (!global && m.redis) p.add(`${path}.redis`, 'has no effect: every rule is local');
  if (!global && m.failMode !== RateLimit_FailMode.OPEN) p.add(`${path}.fail_mode`, 'has no effect: every rule is local');
  if (p.errors.length > before) return undefined;
  return { policy: m.policy, rules, redis, failClosed: m.failMode === RateLimit_FailMode.CLOSED };
}

// ------------------------------------------------------------------------------ the request

/** A rule's descriptor value for this request; undefined: the rule skips it. */
function partValue(c: CompiledPart, req: RequestHead, info: RequestInfo): string | undefined {
  switch (c.part) {
    case Part.Consumer:
      return info.consumer || undefined;
    case Part.Plan:
      return info.plan || undefined;
    case Part.JwtClaim: {
      const v = info.jwt?.payload[c.arg];
      return typeof v === 'string' ? v || undefined : typeof v === 'number' ? String(v) : undefined;
    }
    case Part.ClientIp:
      return req.remoteAddress || undefined;
    case Part.Header:
      return req.header(c.arg) || undefined;
    case Part.Route:
      return info.routeName || undefined;
    case Part.Service: {
      const r = info.route as { cluster?: string } | undefined;
      return r?.cluster || undefined;
    }
    case Part.ApiKey:
      return info.apiKey || undefined;
  }
}

function descriptorValue(rule: CompiledRule, req: RequestHead, info: RequestInfo): string | undefined {
  const parts = rule.parts;
  if (parts.length === 1) return partValue(parts[0]!, req, info) ?? rule.missing;
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const v = partValue(parts[i]!, req, info) ?? rule.missing;
    if (v === undefined) return undefined;
    // U+001F cannot occur in a header value (llhttp refuses control characters).
    out = i === 0 ? v : `${out}\u001f${v}`;
  }
  return out;
}

/** Adds the RateLimit fields (and Retry-After on a refusal) to whatever answer passes. */
class RateLimitSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    readonly policy: string,
    readonly rate: string,
    readonly retryAfter: number,
  ) {
    super(res);
  }
  #add(h: ResponseHeaders): ResponseHeaders {
    h['ratelimit-policy'] = this.policy;
    h.ratelimit = this.rate;
    if (this.retryAfter > 0) h['retry-after'] = this.retryAfter;
    return h;
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    this.res.writeHead(status, this.#add(headers), endStream);
  }
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, this.#add(headers), body);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly(this.#add(headers));
  }
}

const secs = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

interface Bound {
  readonly rule: CompiledRule;
  readonly decisions: RateLimitDecisions;
  /** Local rules: the buckets by descriptor value. */
  readonly buckets: Map<string, Bucket> | undefined;
}

/** What the headers report: the applied rule with the least room left. */
interface Tightest {
  b: Bound | undefined;
  limit: number;
  remaining: number;
  resetMs: number;
}

/**
 * A request waiting for Redis: what it needs to go on or be refused (an object with methods,
 * not closures; the connection calls it back with its share of the batch's answer).
 */
class Pending implements RateLimitWaiter {
  readonly globals: Bound[] = [];
  readonly limits: number[] = [];
  readonly values: string[] = [];
  #answered = false;
  constructor(
    readonly failClosed: boolean,
    readonly next: Handler,
    readonly req: RequestHead,
    readonly res: ResponseSink,
    readonly info: RequestInfo,
    readonly best: Tightest,
  ) {}

  onResult(out: readonly number[], at: number): void {
    const denied = out[at]!;
    const g = this.globals;
    if (!(denied >= 0 && denied <= g.length)) throw new RangeError(`rate-limit reply: denied ${denied} of ${g.length} counters`);
    this.#answered = true;
    if (denied > 0) {
      const b = g[denied - 1]!;
      b.decisions.limited++;
      const resetMs = out[at + 2 * denied]!;
      const sink = new RateLimitSink(this.res, b.rule.policyValue.get(this.limits[denied - 1]!)!, `${b.rule.rateHead}0;t=${secs(resetMs)}`, Math.max(1, secs(resetMs)));
      if (b.rule.window) respondError(this.req, sink, this.info, 'QUOTA_EXCEEDED', `quota '${b.rule.name}' used up until ${new Date(b.rule.window.end).toISOString()}`);
      else respondError(this.req, sink, this.info, 'RATE_LIMITED', `rate limit '${b.rule.name}' reached`);
      return;
    }
    const best = this.best;
    for (let i = 0; i < g.length; i++) {
      const b = g[i]!;
      b.decisions.allowed++;
      const remaining = out[at + 2 * i + 1]!;
      if (remaining < best.remaining) {
        best.b = b;
        best.limit = this.limits[i]!;
        best.remaining = remaining;
        best.resetMs = out[at + 2 * i + 2]!;
      }
    }
    pass(this.next, this.req, this.res, this.info, best);
  }

  onError(): void {
    // A throw from the chain after the answer began is not Redis's failure: answer once.
    if (this.#answered) return;
    this.#answered = true;
    if (this.failClosed) {
      for (const b of this.globals) b.decisions.failedClosed++;
      respondError(this.req, this.res, this.info, 'RATE_LIMIT_UNAVAILABLE', 'the rate-limit store did not answer in time');
      return;
    }
    for (const b of this.globals) b.decisions.failedOpen++;
    pass(this.next, this.req, this.res, this.info, this.best);
  }
}

/** Hands the request on, with the RateLimit fields of the tightest rule when one applied. */
function pass(next: Handler, req: RequestHead, res: ResponseSink, info: RequestInfo, t: Tightest): void {
  if (!t.b) return next(req, res, info);
  next(req, new RateLimitSink(res, t.b.rule.policyValue.get(t.limit)!, `${t.b.rule.rateHead}${t.remaining};t=${secs(t.resetMs)}`, 0), info);
}

/** The filter for one compiled config, bound to the proxy's stores. */
export function rateLimitFilter(cfg: RateLimitConfig, stores: RateLimitStores): Filter {
  const bound: Bound[] = cfg.rules.map((rule) => ({ rule, decisions: stores.decisions(cfg.policy, rule.name), buckets: rule.local ? stores.buckets(cfg.policy, rule.name) : undefined }));
  const redis: RateLimitRedis | undefined = cfg.redis ? stores.redis(cfg.redis.host, cfg.redis.port, cfg.redis.timeoutMs) : undefined;
  const now = stores.now;
  const failClosed = cfg.failClosed;
  return (next: Handler): Handler =>
    (req, res, info) => {
      // A sub-request (an aggregation's call) was counted as its composed request.
      if (info.parent !== undefined) return next(req, res, info);
      const best: Tightest = { b: undefined, limit: 0, remaining: Infinity, resetMs: 0 };
      let pending: Pending | undefined;
      for (let i = 0; i < bound.length; i++) {
        const b = bound[i]!;
        const rule = b.rule;
        const value = descriptorValue(rule, req, info);
        if (value === undefined) continue;
        const limit = (rule.plans && info.plan ? rule.plans.get(info.plan) : undefined) ?? rule.requests;
        if (b.buckets) {
          const t = now();
          let k = b.buckets.get(value);
          if (!k || k.limit !== limit) {
            // Full: the least recently used value goes (a Map keeps insertion order, and a value
            // is moved to the end on each use below): a flood of new values cannot refill a busy
            // client's bucket by pushing it out, only values idle the longest (most likely full).
            if (!k && b.buckets.size >= MAX_LOCAL_BUCKETS) b.buckets.delete(b.buckets.keys().next().value!);
            b.buckets.set(value, (k = { tokens: limit, last: t, limit }));
          } else if (b.buckets.size >= MAX_LOCAL_BUCKETS >>> 1) {
            // Moved to the end only once the map is half full: below that nothing is evicted.
            b.buckets.delete(value);
            b.buckets.set(value, k);
          }
          k.tokens = Math.min(limit, k.tokens + ((t - k.last) * limit) / rule.windowMs);
          k.last = t;
          if (k.tokens < 1) {
            b.decisions.limited++;
            const wait = ((1 - k.tokens) * rule.windowMs) / limit;
            const sink = new RateLimitSink(res, rule.policyValue.get(limit)!, `${rule.rateHead}0;t=${secs(wait)}`, secs(wait));
            respondError(req, sink, info, 'RATE_LIMITED', `rate limit '${rule.name}' reached`);
            return;
          }
          k.tokens -= 1;
          // Counted here even if a global rule then refuses (its token is spent too).
          b.decisions.allowed++;
          const remaining = Math.floor(k.tokens);
          if (remaining < best.remaining) {
            best.b = b;
            best.limit = limit;
            best.remaining = remaining;
            best.resetMs = ((limit - k.tokens) * rule.windowMs) / limit;
          }
          continue;
        }
        pending ??= new Pending(failClosed, next, req, res, info, best);
        pending.globals.push(b);
        pending.limits.push(limit);
        pending.values.push(value);
      }
      if (!pending) return pass(next, req, res, info, best);
      // Global rules and quotas: this request's part of the connection's next batch.
      const g = pending.globals;
      redis!.begin();
      for (let i = 0; i < g.length; i++) {
        const rule = g[i]!.rule;
        const value = pending.values[i]!;
        const w = rule.window;
        if (w) {
          const t = Date.now();
          if (t >= w.end) {
            const cw = calendarWindow(rule.quota, t);
            w.start = cw.start;
            w.end = cw.end;
            w.keyHead = `${rule.keyHead}${cw.start / 1000}:`;
          }
          redis!.add(w.keyHead + value, 'f', pending.limits[i]!, w.end, 0);
        } else redis!.add(rule.keyHead + value, 's', pending.limits[i]!, rule.windowMs, rule.bucketMs);
      }
      redis!.end(pending);
    };
}

/** Stores for chains composed without a Runtime (benches): one set per process. */
let fallback: RateLimitStores | undefined;

export const rateLimit: HttpFilterFactory<RateLimitConfig, RateLimitConfig> = {
  extension: EXTENSIONS.rateLimit,
  parse,
  perRoute: { schema: RateLimitSchema, parse },
  create(cfg, route, ctx) {
    const c = route ?? cfg;
    if (c.rules.length === 0) return undefined;
    return rateLimitFilter(c, ctx.rateLimits ?? (fallback ??= new RateLimitStores()));
  },
  explain(cfg, perRoute, req, route) {
    const c = perRoute ?? cfg;
    if (c.rules.length === 0) return undefined;
    return { effect: 'limits', detail: c.rules.map((r) => explainRule(r, req, route)).join('; ') };
  },
};

const PART_NAME = ['consumer', 'plan', 'jwt claim', 'client ip', 'header', 'route', 'service', 'api key'];

/**
 * One rule's descriptor for a request, as far as the request alone tells (`weft explain`): the
 * consumer, plan, API key and JWT claims are known only once the request is authenticated.
 */
function explainRule(rule: CompiledRule, req: RequestHead, route: CompiledRoute | undefined): string {
  const info = { consumer: '', plan: '', jwt: undefined, apiKey: '', routeName: route?.name ?? '', route } as unknown as RequestInfo;
  const parts: string[] = [];
  for (const p of rule.parts) {
    const name = `${PART_NAME[p.part]}${p.arg ? ` ${p.arg}` : ''}`;
    const known = p.part === Part.Header || p.part === Part.ClientIp || p.part === Part.Route || p.part === Part.Service;
    const v = known ? (partValue(p, req, info) ?? rule.missing) : undefined;
    if (known && v === undefined) return `rule ${rule.name}: does not count this request (no ${name})`;
    parts.push(known ? `${name}=${JSON.stringify(v)}` : `${name} (known once the request is authenticated)`);
  }
  const scope = rule.window ? `quota of ${rule.requests} per ${RateLimitRule_QuotaPeriod[rule.quota]?.toLowerCase() ?? 'period'}` : `${rule.requests} per ${rule.windowMs / 1000}s ${rule.local ? '(per proxy)' : '(shared, Redis)'}`;
  const plans = rule.plans?.size ? ` (plans: ${[...rule.plans].map(([k, n]) => `${k}=${n}`).join(', ')})` : '';
  return `rule ${rule.name}: ${scope}${plans} keyed by ${parts.join(' + ') || 'nothing (one bucket)'}; over it: 429 RATE_LIMITED`;
}
