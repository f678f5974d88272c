/**
 * RateLimitPolicy (weft.dev/v1alpha1, namespaced): rate limits and quotas for API traffic, at
 * gateways and on sidecars. It attaches to Gateways, their listeners and Services through
 * `spec.targetRefs` (a Service's sidecars enforce it on their inbound listener), and to route
 * rules through an ExtensionRef, which replaces the listener's policy for that rule.
 *
 * - `rules`: a limit of `requests` per `unit` (second, minute, hour, day) or `period` (a
 *   duration) for each value of a descriptor built from consumer, plan, a JWT claim, the client
 *   IP, a request header, the route and the service. `scope: global` (default) counts in Redis,
 *   shared by every replica (a sliding window); `scope: local` is a token bucket per proxy.
 *   `plans` gives a limit per consumer plan.
 * - `quotas`: requests per calendar window in UTC (hour, day, week from Monday, month) per
 *   consumer or plan, always in Redis (keys expire with their window).
 * - A request without a value for some descriptor part (no consumer, no such claim or header) is
 *   skipped by that rule, unless the rule names a `missingValue` to count it under.
 *
 * Refused, with the field path: global rules or quotas without `redis`, `redis` or `failMode`
 * with nothing global (they would have no effect), duplicate rule or quota names, a descriptor
 * part given twice, both or neither of `unit` and `period`, a period past 24h (that is a quota).
 */
import type { PolicyTargetRef, QuotaPeriod, RateLimitDescriptorEntry, RateLimitPolicySpec, RateLimitQuotaSpec, RateLimitRuleSpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

export const RATE_LIMIT_DEFAULTS = Object.freeze({ redisTimeoutMs: 100, failMode: 'open' as const });

const UNITS: Readonly<Record<string, number>> = Object.freeze({ second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 });
const QUOTA_PERIODS: readonly QuotaPeriod[] = ['hour', 'day', 'week', 'month'];
const NAME = /^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$/;
const PLAN = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const ADDRESS = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?|\[[0-9a-f:]+\]):(\d{1,5})$/i;
const MAX_REQUESTS = 1_000_000_000;
const SIMPLE_PARTS = ['consumer', 'plan', 'apiKey', 'clientIp', 'route', 'service'] as const;

function readPart(r: Reader, v: unknown, p: string): RateLimitDescriptorEntry | undefined {
  if (typeof v === 'string') {
    if ((SIMPLE_PARTS as readonly string[]).includes(v)) return { [v]: true } as RateLimitDescriptorEntry;
    r.err(p, `must be one of ${SIMPLE_PARTS.join(', ')}, or {jwtClaim: <claim>} or {header: <name>}, got '${v}'`);
    return undefined;
  }
  const o = r.obj(v, p, ['jwtClaim', 'header']);
  if (!o) return undefined;
  const keys = Object.keys(o).filter((k) => o[k] !== undefined && o[k] !== null);
  if (keys.length !== 1) {
    r.err(p, 'set exactly one of jwtClaim, header');
    return undefined;
  }
  if (keys[0] === 'jwtClaim') {
    const claim = r.str(o.jwtClaim, `${p}.jwtClaim`, { nonEmpty: true, pattern: /^[\x21-\x7e]{1,128}$/, patternHelp: 'a claim name' });
    return claim === undefined ? undefined : { jwtClaim: claim };
  }
  const h = r.headerName(o.header, `${p}.header`)?.toLowerCase();
  if (h !== undefined && h.startsWith(':')) r.err(`${p}.header`, 'a pseudo-header is not a request header; use route or service');
  return h === undefined ? undefined : { header: h };
}

function partKey(e: RateLimitDescriptorEntry): string {
  const [k, v] = Object.entries(e)[0]!;
  return v === true ? k : `${k}:${String(v)}`;
}

function readDescriptor(r: Reader, v: unknown, p: string): RateLimitDescriptorEntry[] {
  const seen = new Map<string, number>();
  let i = -1;
  return r.arr(v, p, (x, q) => {
    i++;
    const e = readPart(r, x, q);
    if (!e) return undefined;
    const k = partKey(e);
    const other = seen.get(k);
    if (other !== undefined) {
      r.err(q, `repeats ${p}[${other}]`);
      return undefined;
    }
    seen.set(k, i);
    return e;
  }, { nonEmpty: true, max: 8 });
}

function readPlans(r: Reader, v: unknown, p: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (v === undefined || v === null) return out;
  const o = r.obj(v, p, Object.keys(typeof v === 'object' ? v : {}));
  if (!o) return out;
  for (const [plan, n] of Object.entries(o)) {
    if (!PLAN.test(plan)) {
      r.err(`${p}.${plan}`, 'is not a plan name (letters, digits, -, _ and ., at most 63)');
      continue;
    }
    const c = r.int(n, `${p}.${plan}`, 0, MAX_REQUESTS, { required: true });
    if (c !== undefined) out[plan] = c;
  }
  return out;
}

function readMissing(r: Reader, v: unknown, p: string): string | undefined {
  return r.str(v, p, { nonEmpty: true, pattern: /^[\x21-\x7e]{1,64}$/, patternHelp: '1 to 64 printable ASCII characters without spaces' });
}

function readRule(r: Reader, v: unknown, p: string): RateLimitRuleSpec | undefined {
  const o = r.obj(v, p, ['name', 'descriptor', 'requests', 'unit', 'period', 'scope', 'plans', 'missingValue'], ['name', 'descriptor', 'requests']);
  if (!o) return undefined;
  const name = r.str(o.name, `${p}.name`, { required: true, pattern: NAME, patternHelp: 'lowercase letters, digits, -, _ and ., at most 63' });
  const descriptor = readDescriptor(r, o.descriptor, `${p}.descriptor`);
  const requests = r.int(o.requests, `${p}.requests`, 1, MAX_REQUESTS, { required: true });
  const hasUnit = o.unit !== undefined && o.unit !== null;
  const hasPeriod = o.period !== undefined && o.period !== null;
  let windowMs: number | undefined;
  if (hasUnit === hasPeriod) r.err(p, hasUnit ? 'set unit or period, not both' : `needs unit (${Object.keys(UNITS).join(', ')}) or period (a duration)`);
  else if (hasUnit) {
    const u = r.str(o.unit, `${p}.unit`, { oneOf: Object.keys(UNITS) });
    if (u !== undefined) windowMs = UNITS[u];
  } else {
    windowMs = r.duration(o.period, `${p}.period`, { min: 1000 });
    if (windowMs !== undefined && windowMs > UNITS.day!) {
      r.err(`${p}.period`, 'must be at most 24h (longer windows are quotas: spec.quotas)');
      windowMs = undefined;
    } else if (windowMs !== undefined && windowMs % 1000 !== 0) {
      r.err(`${p}.period`, 'must be whole seconds (the RateLimit headers count seconds)');
      windowMs = undefined;
    }
  }
  const scope = (r.str(o.scope, `${p}.scope`, { oneOf: ['global', 'local'] }) ?? 'global') as 'global' | 'local';
  const plans = readPlans(r, o.plans, `${p}.plans`);
  const missingValue = readMissing(r, o.missingValue, `${p}.missingValue`);
  if (name === undefined || requests === undefined || windowMs === undefined || descriptor.length === 0) return undefined;
  return { name, descriptor, requests, windowMs, scope, plans, ...(missingValue !== undefined ? { missingValue } : {}) };
}

function readQuota(r: Reader, v: unknown, p: string): RateLimitQuotaSpec | undefined {
  const o = r.obj(v, p, ['name', 'by', 'requests', 'period', 'plans', 'missingValue'], ['name', 'by', 'requests', 'period']);
  if (!o) return undefined;
  const name = r.str(o.name, `${p}.name`, { required: true, pattern: NAME, patternHelp: 'lowercase letters, digits, -, _ and ., at most 63' });
  const by = r.str(o.by, `${p}.by`, { required: true, oneOf: ['consumer', 'plan'] }) as 'consumer' | 'plan' | undefined;
  const requests = r.int(o.requests, `${p}.requests`, 1, MAX_REQUESTS, { required: true });
  const period = r.str(o.period, `${p}.period`, { required: true, oneOf: QUOTA_PERIODS }) as QuotaPeriod | undefined;
  const plans = readPlans(r, o.plans, `${p}.plans`);
  const missingValue = readMissing(r, o.missingValue, `${p}.missingValue`);
  if (name === undefined || by === undefined || requests === undefined || period === undefined) return undefined;
  return { name, by, requests, period, plans, ...(missingValue !== undefined ? { missingValue } : {}) };
}

export function readRateLimitPolicy(r: Reader, v: unknown): RateLimitPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['targetRefs', 'rules', 'quotas', 'redis', 'failMode']);
  if (!o) {
    if (v === undefined || v === null) r.err('spec', 'is required');
    return undefined;
  }
  const targetRefs: PolicyTargetRef[] = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false, services: true });
  const rules = r.arr(o.rules, 'spec.rules', (x, q) => readRule(r, x, q), { max: 32 });
  const quotas = r.arr(o.quotas, 'spec.quotas', (x, q) => readQuota(r, x, q), { max: 16 });
  if (rules.length === 0 && quotas.length === 0 && (o.rules === undefined || o.rules === null) && (o.quotas === undefined || o.quotas === null)) r.err('spec', 'needs rules or quotas');
  const names = new Map<string, string>();
  rules.forEach((x, i) => {
    const other = names.get(x.name);
    if (other) r.err(`spec.rules[${i}].name`, `'${x.name}' is also the name of ${other}`);
    else names.set(x.name, `spec.rules[${i}]`);
  });
  quotas.forEach((x, i) => {
    const other = names.get(x.name);
    if (other) r.err(`spec.quotas[${i}].name`, `'${x.name}' is also the name of ${other}`);
    else names.set(x.name, `spec.quotas[${i}]`);
  });
  // From what was written, so a rule refused for another field does not also make redis "unused".
  const rawRules = Array.isArray(o.rules) ? (o.rules as unknown[]) : [];
  const rawQuotas = Array.isArray(o.quotas) ? (o.quotas as unknown[]) : [];
  const global = rawQuotas.length > 0 || rawRules.some((x) => (x as { scope?: unknown } | null)?.scope !== 'local');
  let redis: RateLimitPolicySpec['redis'];
  if (o.redis !== undefined && o.redis !== null) {
    const ro = r.obj(o.redis, 'spec.redis', ['address', 'keyPrefix', 'timeout'], ['address']);
    if (ro) {
      const address = r.str(ro.address, 'spec.redis.address', { nonEmpty: true, pattern: ADDRESS, patternHelp: 'host:port' });
      if (address !== undefined) {
        const port = Number(ADDRESS.exec(address)![3]);
        if (port < 1 || port > 65535) r.err('spec.redis.address', `port ${port} is not from 1 to 65535`);
      }
      const keyPrefix = r.str(ro.keyPrefix, 'spec.redis.keyPrefix', { nonEmpty: true, pattern: /^[\x21-\x7e]{1,128}$/, patternHelp: '1 to 128 printable ASCII characters without spaces' });
      const timeoutMs = r.duration(ro.timeout, 'spec.redis.timeout', { min: 1 });
      if (timeoutMs !== undefined && timeoutMs > 10_000) r.err('spec.redis.timeout', 'must be at most 10s (requests wait for it)');
      if (address !== undefined) redis = { address, keyPrefix: keyPrefix ?? '', timeoutMs: timeoutMs ?? RATE_LIMIT_DEFAULTS.redisTimeoutMs };
    }
    if (!global) r.err('spec.redis', 'has no effect: no rule is global and there are no quotas (local rules count in each proxy)');
  } else if (global) {
    const at = rules.findIndex((x) => x.scope === 'global');
    r.err('spec.redis', `is required: ${at >= 0 ? `spec.rules[${at}] is global (the default scope)` : 'quotas are counted in Redis'}`);
  }
  const failMode = (r.str(o.failMode, 'spec.failMode', { oneOf: ['open', 'closed'] }) ?? RATE_LIMIT_DEFAULTS.failMode) as 'open' | 'closed';
  if (o.failMode !== undefined && o.failMode !== null && !global) r.err('spec.failMode', 'has no effect: only global rules and quotas depend on Redis');
  return { targetRefs, rules, quotas, ...(redis ? { redis } : {}), failMode };
}

export const rateLimitPolicyKind: KindDefinition<'RateLimitPolicy'> = {
  kind: 'RateLimitPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'ratelimitpolicies',
  shortNames: ['rlp'],
  read: (r, spec) => readRateLimitPolicy(r, spec),
  references: (res, ctx) => targetRefReferences(res, ctx.model.rateLimitPolicies.values(), ctx),
  addToModel: (b, res) => void b.rateLimitPolicies.set(`RateLimitPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const s = res.spec;
    const unit = (ms: number) => Object.entries(UNITS).find(([, v]) => v === ms)?.[0] ?? `${ms / 1000}s`;
    const parts = [...s.rules.map((x) => `${x.name} ${x.requests}/${unit(x.windowMs)} ${x.scope}`), ...s.quotas.map((q) => `${q.name} ${q.requests}/${q.period}`)];
    const where = s.targetRefs.map((t) => (t.kind === 'Service' ? `service/${t.name}` : `gateway/${t.name}${t.sectionName ? `/${t.sectionName}` : ''}`));
    return `${parts.join(', ')}${s.redis ? `; redis ${s.redis.address} fail ${s.failMode}` : ''}${where.length ? ` -> ${where.join(', ')}` : ''}`;
  },
};
