/**
 * SecurityHeadersPolicy -> each Envoy Route's response_headers_to_add (the data plane applies a
 * route's header edits to every response of the route: forwarded, redirect or direct). The
 * policy of a route rule's ExtensionRef wins; else, on a gateway listener, the policy targeting
 * the listener, else its Gateway (policy-attachment.ts). Its headers come before the rule's own
 * ResponseHeaderModifier edits, so a rule that sets one of them has the last word.
 *
 * HSTS only over TLS (RFC 6797 section 7.2: "An HSTS Host MUST NOT include the STS header field
 * in HTTP responses conveyed over non-secure transport"): `tls` is whether the listener
 * terminates TLS (an HTTPS listener); on an HTTP listener, and on mesh routes, hsts is left out.
 */
import { create } from '@bufbuild/protobuf';
import { HeaderValueOptionSchema, HeaderValueOption_HeaderAppendAction, type HeaderValueOption } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { GatewayListener, SecurityHeadersPolicySpec } from '../config/types.js';

/** Whether a listener of this protocol carries requests over TLS (HTTPS). */
export function listenerIsTls(l: GatewayListener): boolean {
  return l.protocol === 'HTTPS';
}

/** The strict-transport-security value of a policy's hsts preset. */
export function hstsValue(h: NonNullable<SecurityHeadersPolicySpec['hsts']>): string {
  return `max-age=${h.maxAgeSeconds}${h.includeSubDomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`;
}

/** The header name -> value pairs a policy sets on a listener that is (`tls`) or is not over TLS. */
export function securityHeaderPairs(spec: SecurityHeadersPolicySpec, tls: boolean): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (spec.hsts && tls) out.push(['strict-transport-security', hstsValue(spec.hsts)]);
  if (spec.contentTypeOptions) out.push(['x-content-type-options', spec.contentTypeOptions]);
  if (spec.frameOptions) out.push(['x-frame-options', spec.frameOptions]);
  if (spec.referrerPolicy) out.push(['referrer-policy', spec.referrerPolicy]);
  if (spec.contentSecurityPolicy) out.push(['content-security-policy', spec.contentSecurityPolicy]);
  if (spec.permissionsPolicy) out.push(['permissions-policy', spec.permissionsPolicy]);
  return out;
}

/** The policy's headers as response_headers_to_add entries: each overwrites what the upstream sent. */
export function securityHeaderOptions(spec: SecurityHeadersPolicySpec, tls: boolean): HeaderValueOption[] {
  return securityHeaderPairs(spec, tls).map(([key, value]) =>
    create(HeaderValueOptionSchema, { header: { key, value }, appendAction: HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD }),
  );
}
