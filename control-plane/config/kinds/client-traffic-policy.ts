/**
 * ClientTrafficPolicy (weft.dev/v1alpha1, namespaced; Envoy Gateway's name for the same idea):
 * limits on what clients may send a Gateway's listeners, attached through `spec.targetRefs`
 * (GEP-713: a Gateway, or one listener by sectionName; the listener's own policy wins). Each
 * limit maps to the Envoy field that has it (translate/client-limits.ts): HCM
 * max_request_headers_kb, request_headers_timeout and common_http_protocol_options.idle_timeout,
 * the buffer filter's max_request_bytes, the connection_limit network filter, and Weft's
 * RequestLimits filter for the URI length, which Envoy has no field for.
 */
import type { ClientTrafficPolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';
import { isL4Listener } from './gateway.js';

/** Envoy's max_request_bytes is a uint32. */
const MAX_UINT32 = 4_294_967_295;
/** Envoy's max_request_headers_kb allows up to 8192 KiB. */
const MAX_HEADER_KB = 8192;

const LIMITS = ['maxRequestBodyBytes', 'maxRequestHeaderBytes', 'maxUriLength', 'requestHeaderTimeout', 'idleTimeout', 'maxConnections'] as const;

export function readClientTrafficPolicy(r: Reader, v: unknown): ClientTrafficPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['targetRefs', ...LIMITS]);
  if (!o) return undefined;
  const spec: ClientTrafficPolicySpec = { targetRefs: readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: true }) };
  if (LIMITS.every((k) => o[k] === undefined || o[k] === null)) r.err('spec', `needs at least one limit (${LIMITS.join(', ')})`);
  const body = r.int(o.maxRequestBodyBytes, 'spec.maxRequestBodyBytes', 1, MAX_UINT32);
  const head = r.int(o.maxRequestHeaderBytes, 'spec.maxRequestHeaderBytes', 1024, MAX_HEADER_KB * 1024);
  if (head !== undefined && head % 1024 !== 0) r.err('spec.maxRequestHeaderBytes', `must be a multiple of 1024 (Envoy counts KiB), got ${head}`);
  const uri = r.int(o.maxUriLength, 'spec.maxUriLength', 16, 1_048_576);
  const headTimeout = r.duration(o.requestHeaderTimeout, 'spec.requestHeaderTimeout', { min: 10 });
  const idle = r.duration(o.idleTimeout, 'spec.idleTimeout', { min: 10 });
  const conns = r.int(o.maxConnections, 'spec.maxConnections', 1, 1_000_000);
  if (body !== undefined) spec.maxRequestBodyBytes = body;
  if (head !== undefined && head % 1024 === 0) spec.maxRequestHeaderBytes = head;
  if (uri !== undefined) spec.maxUriLength = uri;
  if (headTimeout !== undefined) spec.requestHeaderTimeoutMs = headTimeout;
  if (idle !== undefined) spec.idleTimeoutMs = idle;
  if (conns !== undefined) spec.maxConnections = conns;
  return spec;
}

export const clientTrafficPolicyKind: KindDefinition<'ClientTrafficPolicy'> = {
  kind: 'ClientTrafficPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'clienttrafficpolicies',
  shortNames: ['ctp'],
  read: (r, spec) => readClientTrafficPolicy(r, spec),
  references(res, ctx) {
    targetRefReferences(res, ctx.model.clientTrafficPolicies.values(), ctx);
    // On TCP and TLS passthrough listeners only maxConnections and idleTimeout act (connection_limit,
    // tcp_proxy idle_timeout); a policy all of whose listeners are such refuses the request limits.
    const s = res.spec;
    // A TLS passthrough port counts connections before SNI picks a listener: its first listener's
    // maxConnections holds for all (translator.ts), so another listener's would have no effect.
    if (s.maxConnections !== undefined) {
      res.spec.targetRefs.forEach((t, i) => {
        const gw = t.kind === 'Gateway' && t.sectionName !== undefined ? ctx.model.gateways.get(`Gateway/${res.metadata.namespace}/${t.name}`) : undefined;
        const l = gw?.spec.listeners.find((x) => x.name === t.sectionName);
        const first = l && gw!.spec.listeners.find((x) => x.port === l.port);
        if (l?.protocol === 'TLS' && first && first !== l) {
          ctx.err(`spec.targetRefs[${i}].sectionName`, `listener '${l.name}' shares port ${l.port} with '${first.name}', whose maxConnections holds for the port (connections are counted before SNI picks a listener): target '${first.name}' (or the Gateway)`);
        }
      });
    }
    const requestLimits = (['maxRequestBodyBytes', 'maxRequestHeaderBytes', 'maxUriLength', 'requestHeaderTimeoutMs'] as const).filter((k) => s[k] !== undefined);
    if (!requestLimits.length) return;
    const listeners = res.spec.targetRefs.flatMap((t) => {
      const gw = t.kind === 'Gateway' ? ctx.model.gateways.get(`Gateway/${res.metadata.namespace}/${t.name}`) : undefined;
      return gw ? gw.spec.listeners.filter((l) => t.sectionName === undefined || l.name === t.sectionName) : [];
    });
    if (listeners.length && listeners.every(isL4Listener)) {
      for (const k of requestLimits) ctx.err(`spec.${k === 'requestHeaderTimeoutMs' ? 'requestHeaderTimeout' : k}`, 'every listener this policy targets is TCP or TLS passthrough: connections carry no requests (only maxConnections and idleTimeout apply)');
    }
  },
  addToModel: (b, res) => void b.clientTrafficPolicies.set(`ClientTrafficPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const s = res.spec;
    const parts: string[] = [];
    if (s.maxRequestBodyBytes !== undefined) parts.push(`body ${s.maxRequestBodyBytes}B`);
    if (s.maxRequestHeaderBytes !== undefined) parts.push(`headers ${s.maxRequestHeaderBytes}B`);
    if (s.maxUriLength !== undefined) parts.push(`uri ${s.maxUriLength}`);
    if (s.requestHeaderTimeoutMs !== undefined) parts.push(`head timeout ${s.requestHeaderTimeoutMs}ms`);
    if (s.idleTimeoutMs !== undefined) parts.push(`idle ${s.idleTimeoutMs}ms`);
    if (s.maxConnections !== undefined) parts.push(`connections ${s.maxConnections}`);
    return parts.join('; ');
  },
};
