/**
 * AggregationPolicy (weft.dev/v1alpha1, namespaced): a composed endpoint. An HTTPRoute rule
 * attached to Gateways names it in an ExtensionRef filter; the gateway then answers that rule's
 * requests itself with one JSON object, each call's response body under the call's name. The calls
 * are sub-requests dispatched through the same gateway listener's routes (so each one gets its
 * route's policies, balancing, retries, mTLS and a CLIENT span); calls without `dependsOn` run in
 * parallel. Translated to weft.filters.http.aggregation (translate/filters/aggregation.ts).
 *
 * The rule has no backendRefs (http-route.ts): the calls name the upstreams, by path and host.
 * Refused, with the field path: a bad template or a placeholder naming an unknown path segment,
 * a call it does not depend on, an unknown or cyclic dependency, a duplicate name.
 */
import type { AggregationCall, AggregationPolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { isTemplateName, parseCallTemplate, parsePathTemplate } from '../../../common/aggregation-template.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** Headers a sub-request makes itself (or that describe a body it does not have). */
const NOT_PASSED = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'content-length', 'content-type', 'content-encoding', 'expect', 'proxy-connection', 'trailer']);
/** Passed when `headers` is not given: who the caller is, for the upstreams' own policies. */
export const DEFAULT_AGGREGATION_HEADERS = ['authorization', 'x-weft-consumer'];
export const MAX_AGGREGATION_CALLS = 16;
const DEFAULT_MAX_CALL_BODY = 1 << 20;
const MAX_CALL_BODY = 16 << 20;
const MAX_TIMEOUT_MS = 60_000;

function readCall(r: Reader, v: unknown, p: string, pathNames: ReadonlySet<string> | undefined): AggregationCall | undefined {
  const o = r.obj(v, p, ['name', 'method', 'path', 'host', 'headers', 'timeout', 'optional', 'dependsOn'], ['name', 'path', 'timeout']);
  if (!o) return undefined;
  const name = r.str(o.name, `${p}.name`, { required: true });
  if (name !== undefined && !isTemplateName(name)) r.err(`${p}.name`, `'${name}' is not a call name (a letter or '_', then letters, digits, '_' or '-')`);
  const method = r.str(o.method, `${p}.method`, { oneOf: METHODS }) ?? 'GET';
  const path = r.str(o.path, `${p}.path`, { required: true });
  const dependsOn = r.arr(o.dependsOn, `${p}.dependsOn`, (x, q) => r.str(x, q, { required: true }));
  if (path !== undefined) {
    const parts = parseCallTemplate(path);
    if ('error' in parts) r.err(`${p}.path`, `'${path}' ${parts.error}`);
    else
      for (const part of parts) {
        if (part.kind === 'path' && !pathNames?.has(part.name)) r.err(`${p}.path`, `{path.${part.name}} names no {${part.name}} segment of spec.pathTemplate`);
        if (part.kind === 'call' && !dependsOn.includes(part.call)) r.err(`${p}.path`, `{calls.${part.call}...} needs '${part.call}' in ${p}.dependsOn (its body must be there first)`);
      }
  }
  const host = r.str(o.host, `${p}.host`, { nonEmpty: true, pattern: /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/, patternHelp: 'a lowercase host name, optionally with :port' });
  const headers =
    o.headers === undefined || o.headers === null
      ? [...DEFAULT_AGGREGATION_HEADERS]
      : r.arr(o.headers, `${p}.headers`, (x, q) => {
          const h = r.str(x, q, { required: true, pattern: HEADER, patternHelp: 'a lowercase header name' });
          if (h !== undefined && NOT_PASSED.has(h)) r.err(q, `'${h}' is not passed to a sub-request (it describes the connection or a body, which the sub-request makes itself)`);
          return h;
        }, { max: 32 });
  const timeoutMs = r.duration(o.timeout, `${p}.timeout`, { required: true, min: 1 });
  if (timeoutMs !== undefined && timeoutMs > MAX_TIMEOUT_MS) r.err(`${p}.timeout`, `must be at most 60s, got ${String(o.timeout)}`);
  const optional = r.bool(o.optional, `${p}.optional`) ?? false;
  if (name === undefined || path === undefined || timeoutMs === undefined) return undefined;
  const call: AggregationCall = { name, method, path, headers, timeoutMs, optional, dependsOn };
  if (host !== undefined) call.host = host;
  return call;
}

/** Dependencies that name no call, the call itself, or close a cycle. */
function checkDependencies(r: Reader, calls: readonly AggregationCall[]): void {
  const index = new Map(calls.map((c, i) => [c.name, i]));
  calls.forEach((c, i) =>
    c.dependsOn.forEach((d, j) => {
      if (!index.has(d)) r.err(`spec.calls[${i}].dependsOn[${j}]`, `'${d}' is not a call of this policy`);
      else if (d === c.name) r.err(`spec.calls[${i}].dependsOn[${j}]`, 'a call cannot depend on itself');
    }),
  );
  // Depth-first: a call met again while on the stack closes a cycle.
  const state = new Array<0 | 1 | 2>(calls.length).fill(0);
  const visit = (i: number): boolean => {
    if (state[i] === 2) return false;
    if (state[i] === 1) return true;
    state[i] = 1;
    for (const d of calls[i]!.dependsOn) {
      const j = index.get(d);
      if (j !== undefined && j !== i && visit(j)) return true;
    }
    state[i] = 2;
    return false;
  };
  for (let i = 0; i < calls.length; i++) {
    if (state[i] === 0 && visit(i)) {
      r.err(`spec.calls[${i}].dependsOn`, `'${calls[i]!.name}' is part of a dependency cycle`);
      return;
    }
  }
}

export function readAggregationPolicy(r: Reader, v: unknown): AggregationPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['pathTemplate', 'calls', 'maxCallBodyBytes'], ['calls']);
  if (!o) return undefined;
  let pathNames: Set<string> | undefined;
  const pathTemplate = r.str(o.pathTemplate, 'spec.pathTemplate', { nonEmpty: true });
  if (pathTemplate !== undefined) {
    const t = parsePathTemplate(pathTemplate);
    if ('error' in t) r.err('spec.pathTemplate', `'${pathTemplate}' ${t.error}`);
    else pathNames = new Set(t.segments.flatMap((s) => (typeof s === 'string' ? [] : [s.name])));
  }
  const calls = r.arr(o.calls, 'spec.calls', (x, q) => readCall(r, x, q, pathNames), { nonEmpty: true, max: MAX_AGGREGATION_CALLS });
  const seen = new Set<string>();
  calls.forEach((c, i) => {
    if (seen.has(c.name)) r.err(`spec.calls[${i}].name`, `'${c.name}' is used by an earlier call (names are keys of the merged JSON)`);
    seen.add(c.name);
  });
  checkDependencies(r, calls);
  const maxCallBodyBytes = r.int(o.maxCallBodyBytes, 'spec.maxCallBodyBytes', 1, MAX_CALL_BODY) ?? DEFAULT_MAX_CALL_BODY;
  const spec: AggregationPolicySpec = { calls, maxCallBodyBytes };
  if (pathTemplate !== undefined) spec.pathTemplate = pathTemplate;
  return spec;
}

export const aggregationPolicyKind: KindDefinition<'AggregationPolicy'> = {
  kind: 'AggregationPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'aggregationpolicies',
  shortNames: [],
  read: (r, spec) => readAggregationPolicy(r, spec),
  addToModel: (b, res) => void b.aggregationPolicies.set(`AggregationPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    return res.spec.calls.map((c) => `${c.name}${c.optional ? '?' : ''}${c.dependsOn.length ? `<-${c.dependsOn.join('+')}` : ''}`).join(', ');
  },
};
