/**
 * SecurityHeadersPolicy (weft.dev/v1alpha1, namespaced): the response headers browsers read for
 * security (HSTS, x-content-type-options, x-frame-options, referrer-policy,
 * content-security-policy, permissions-policy), set by the gateway on every response. Attached to
 * a Gateway or listener through `spec.targetRefs`, or to a route rule through an ExtensionRef; a
 * rule's policy replaces the listener's for that rule. Translated to each route's
 * response_headers_to_add (translate/security-headers.ts), overwriting what the upstream sent.
 *
 * HSTS is sent only on HTTPS listeners: RFC 6797 section 7.2 forbids it over plain HTTP (and
 * section 8.1 has browsers ignore it there), so on an HTTP listener the hsts preset is left out.
 */
import type { FrameOptions, SecurityHeadersPolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

/** The referrer policies of the W3C Referrer Policy spec. */
export const REFERRER_POLICIES = [
  'no-referrer',
  'no-referrer-when-downgrade',
  'origin',
  'origin-when-cross-origin',
  'same-origin',
  'strict-origin',
  'strict-origin-when-cross-origin',
  'unsafe-url',
] as const;

/** hstspreload.org: preload needs includeSubDomains and max-age of at least one year. */
const PRELOAD_MIN_AGE = 31_536_000;
const PRESETS = ['hsts', 'contentTypeOptions', 'frameOptions', 'referrerPolicy', 'contentSecurityPolicy', 'permissionsPolicy'] as const;

function readHsts(r: Reader, v: unknown, p: string): SecurityHeadersPolicySpec['hsts'] {
  const o = r.obj(v, p, ['maxAgeSeconds', 'includeSubDomains', 'preload'], ['maxAgeSeconds']);
  if (!o) return undefined;
  const maxAgeSeconds = r.int(o.maxAgeSeconds, `${p}.maxAgeSeconds`, 0, 2 ** 31 - 1);
  const includeSubDomains = r.bool(o.includeSubDomains, `${p}.includeSubDomains`) ?? false;
  const preload = r.bool(o.preload, `${p}.preload`) ?? false;
  if (preload && !includeSubDomains) r.err(`${p}.preload`, 'needs includeSubDomains: true (hstspreload.org requirements)');
  if (preload && maxAgeSeconds !== undefined && maxAgeSeconds < PRELOAD_MIN_AGE) r.err(`${p}.preload`, `needs maxAgeSeconds of at least ${PRELOAD_MIN_AGE} (one year)`);
  return maxAgeSeconds === undefined ? undefined : { maxAgeSeconds, includeSubDomains, preload };
}

export function readSecurityHeadersPolicy(r: Reader, v: unknown): SecurityHeadersPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['targetRefs', ...PRESETS]);
  if (!o) return undefined;
  const spec: SecurityHeadersPolicySpec = { targetRefs: readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false }) };
  if (PRESETS.every((k) => o[k] === undefined || o[k] === null)) r.err('spec', `needs at least one header (${PRESETS.join(', ')})`);
  const has = (k: string) => o[k] !== undefined && o[k] !== null;
  if (has('hsts')) {
    const h = readHsts(r, o.hsts, 'spec.hsts');
    if (h) spec.hsts = h;
  }
  if (has('contentTypeOptions')) {
    if (r.str(o.contentTypeOptions, 'spec.contentTypeOptions', { oneOf: ['nosniff'] })) spec.contentTypeOptions = 'nosniff';
  }
  if (has('frameOptions')) {
    const f = r.str(o.frameOptions, 'spec.frameOptions', { oneOf: ['DENY', 'SAMEORIGIN'] });
    if (f) spec.frameOptions = f as FrameOptions;
  }
  if (has('referrerPolicy')) {
    const f = r.str(o.referrerPolicy, 'spec.referrerPolicy', { oneOf: REFERRER_POLICIES });
    if (f) spec.referrerPolicy = f;
  }
  for (const k of ['contentSecurityPolicy', 'permissionsPolicy'] as const) {
    if (!has(k)) continue;
    const s = r.headerValue(o[k], `spec.${k}`);
    if (s !== undefined && s.trim() === '') r.err(`spec.${k}`, 'must not be empty');
    else if (s !== undefined) spec[k] = s;
  }
  return spec;
}

export const securityHeadersPolicyKind: KindDefinition<'SecurityHeadersPolicy'> = {
  kind: 'SecurityHeadersPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'securityheaderspolicies',
  shortNames: ['shp'],
  read: (r, spec) => readSecurityHeadersPolicy(r, spec),
  references: (res, ctx) => targetRefReferences(res, ctx.model.securityHeadersPolicies.values(), ctx),
  addToModel: (b, res) => void b.securityHeadersPolicies.set(`SecurityHeadersPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    return PRESETS.filter((k) => res.spec[k] !== undefined).join(', ');
  },
};
