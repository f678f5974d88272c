/**
 * ApiLifecyclePolicy (weft.dev/v1alpha1, namespaced): the lifecycle of an API version. Responses
 * of the routes it applies to carry `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link`
 * headers (`rel="successor-version"`, `rel="deprecation"`); with `rejectAfterSunset`, the version
 * answers 410 Gone from its sunset on. Translated to weft.filters.http.api_lifecycle
 * (translate/filters/api-lifecycle.ts).
 *
 * It applies to the HTTPRoute / GRPCRoute rules that name it in an ExtensionRef (at the gateway
 * for Gateway routes, at the caller's sidecar for mesh routes), and by `spec.targetRefs` to every
 * route of a Gateway / listener or to a Service (its sidecars' inbound listener); a rule's own
 * policy wins (policy-attachment.ts).
 *
 * Dates are RFC 3339 (`2026-01-01T00:00:00Z`, or a date alone, midnight UTC), whole seconds (both
 * headers carry seconds). Refused, with the field path: a sunset before the deprecation (RFC 9745
 * section 4), a URL that is not absolute http(s) or could not sit in a Link header, and
 * `rejectAfterSunset` without a sunset.
 */
import type { ApiLifecyclePolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

/** RFC 3339 date-time (offset required) or full-date. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;
/** Characters an RFC 8288 Link target may hold between < and > as given (visible ASCII, no <>"` or space). */
const LINK_SAFE = /^[\x21-\x7e]+$/;

/** An RFC 3339 date as epoch milliseconds (whole seconds), or undefined after reporting why not. */
export function readDate(r: Reader, v: unknown, p: string): number | undefined {
  const s = r.str(v, p, { required: true });
  if (s === undefined) return undefined;
  const ms = DATE_TIME.test(s) ? Date.parse(s.length === 10 ? `${s}T00:00:00Z` : s) : NaN;
  if (!Number.isFinite(ms)) {
    r.err(p, `'${s}' is not an RFC 3339 date (2026-01-31 or 2026-01-31T12:00:00Z)`);
    return undefined;
  }
  if (ms % 1000 !== 0) {
    r.err(p, `'${s}' has fractions of a second: the Deprecation and Sunset headers carry whole seconds`);
    return undefined;
  }
  if (ms < 0) {
    r.err(p, `'${s}' is before 1970`);
    return undefined;
  }
  return ms;
}

function readUrl(r: Reader, v: unknown, p: string): string | undefined {
  const s = r.str(v, p, { nonEmpty: true });
  if (s === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    r.err(p, `'${s}' is not an absolute URL`);
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') r.err(p, `'${s}' is not an http or https URL`);
  else if (!LINK_SAFE.test(s) || /[<>"`]/.test(s)) r.err(p, `'${s}' has characters a Link header cannot carry (spaces, quotes, < or >); percent-encode them`);
  else return s;
  return undefined;
}

export function readApiLifecyclePolicy(r: Reader, v: unknown): ApiLifecyclePolicySpec | undefined {
  const o = r.obj(v, 'spec', ['deprecation', 'sunset', 'successor', 'link', 'rejectAfterSunset', 'targetRefs'], ['deprecation']);
  if (!o) return undefined;
  let deprecation: string | true | undefined;
  let deprecationMs: number | undefined;
  if (o.deprecation === true) deprecation = true;
  else if (o.deprecation === false) r.err('spec.deprecation', 'false: a policy for a version that is not deprecated has nothing to say; remove the policy (or give a future date)');
  else if (o.deprecation !== undefined && o.deprecation !== null) {
    deprecationMs = readDate(r, o.deprecation, 'spec.deprecation');
    if (deprecationMs !== undefined) deprecation = o.deprecation as string;
  }
  let sunset: string | undefined;
  if (o.sunset !== undefined && o.sunset !== null) {
    const ms = readDate(r, o.sunset, 'spec.sunset');
    if (ms !== undefined) {
      if (deprecationMs !== undefined && ms < deprecationMs) r.err('spec.sunset', `${o.sunset} is before spec.deprecation (${o.deprecation}): RFC 9745 forbids a sunset earlier than the deprecation`);
      else sunset = o.sunset as string;
    }
  }
  const successor = readUrl(r, o.successor, 'spec.successor');
  const link = readUrl(r, o.link, 'spec.link');
  const rejectAfterSunset = r.bool(o.rejectAfterSunset, 'spec.rejectAfterSunset') ?? false;
  if (rejectAfterSunset && o.sunset === undefined) r.err('spec.rejectAfterSunset', 'needs spec.sunset (the date from which the version answers 410 Gone)');
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false, services: true });
  if (deprecation === undefined) return undefined;
  const spec: ApiLifecyclePolicySpec = { deprecation, rejectAfterSunset, targetRefs };
  if (sunset !== undefined) spec.sunset = sunset;
  if (successor !== undefined) spec.successor = successor;
  if (link !== undefined) spec.link = link;
  return spec;
}

export const apiLifecyclePolicyKind: KindDefinition<'ApiLifecyclePolicy'> = {
  kind: 'ApiLifecyclePolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'apilifecyclepolicies',
  shortNames: [],
  read: (r, spec) => readApiLifecyclePolicy(r, spec),
  references: (res, ctx) => targetRefReferences(res, ctx.model.apiLifecyclePolicies.values(), ctx),
  addToModel: (b, res) => void b.apiLifecyclePolicies.set(`ApiLifecyclePolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const { deprecation, sunset, successor, targetRefs } = res.spec;
    const targets = targetRefs.map((t) => (t.sectionName ? `${t.name}/${t.sectionName}` : t.name));
    return `deprecated ${deprecation === true ? 'now' : deprecation}${sunset ? `; sunset ${sunset}` : ''}${successor ? `; successor ${successor}` : ''}${targets.length ? `; targets ${targets.join(', ')}` : ''}`;
  },
};
