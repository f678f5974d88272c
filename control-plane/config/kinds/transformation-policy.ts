/**
 * TransformationPolicy (weft.dev/v1alpha1, namespaced): edits of requests and responses made by
 * the proxy (weft.filters.http.transformation; translate/filters/transformation.ts): headers,
 * query parameters, JSON body fields addressed by JSON pointer (RFC 6901), and XML <-> JSON for
 * legacy upstreams. Attached like every API policy: ExtensionRef per route rule, or targetRefs
 * (Gateways, listeners, Services).
 *
 * Refused with the field path: a header the proxy owns (content-length, transfer-encoding,
 * hop-by-hop), an invalid header name or value, a malformed pointer (or one naming __proto__),
 * a body edit with no or several actions, a root element that is not an XML name, options with
 * nothing to act on.
 */
import type { BodyFieldSpec, HeaderMutationsSpec, QueryMutationsSpec, TransformationPolicySpec } from '../types.js';
import type { Obj, Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import { parsePointer } from '../../../common/json-pointer.js';
import type { KindDefinition } from './kind.js';
import { httpServiceTargets, readTargetRefs, targetRefReferences } from './policy-attachment.js';
import { MAX_BODY_BOUND } from './validation-policy.js';

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const RESERVED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'host', 'proxy-connection', 'trailer']);
const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const ACTIONS = ['rename', 'remove', 'value', 'fromHeader', 'fromJwtClaim', 'fromConsumer'] as const;

function present(x: unknown): boolean {
  return x !== undefined && x !== null;
}

function headerName(r: Reader, v: unknown, p: string): string | undefined {
  const n = r.str(v, p, { required: true, pattern: HEADER_NAME, patternHelp: 'a lowercase header name' });
  if (n !== undefined && RESERVED.has(n)) {
    r.err(p, `'${n}' is a framing or hop-by-hop header the proxy owns`);
    return undefined;
  }
  return n;
}

function nameValues(r: Reader, v: unknown, p: string, header: boolean): Array<{ name: string; value: string }> {
  return r.arr(v, p, (x, q) => {
    const o = r.obj(x, q, ['name', 'value'], ['name', 'value']);
    if (!o) return undefined;
    const name = header ? headerName(r, o.name, `${q}.name`) : r.str(o.name, `${q}.name`, { required: true });
    const value = r.str(o.value, `${q}.value`, header ? { pattern: HEADER_VALUE, patternHelp: 'a header value (no control characters)' } : {});
    return name === undefined || value === undefined ? undefined : { name, value };
  });
}

function readHeaders(r: Reader, v: unknown, p: string): HeaderMutationsSpec | undefined {
  const o = r.obj(v, p, ['add', 'set', 'remove']);
  if (!o) return undefined;
  const before = r.errors.length;
  const h = { add: nameValues(r, o.add, `${p}.add`, true), set: nameValues(r, o.set, `${p}.set`, true), remove: r.arr(o.remove, `${p}.remove`, (x, q) => headerName(r, x, q)) };
  if (!h.add.length && !h.set.length && !h.remove.length && r.errors.length === before) r.err(p, 'needs add, set or remove');
  return h;
}

function readQuery(r: Reader, v: unknown, p: string): QueryMutationsSpec | undefined {
  const o = r.obj(v, p, ['add', 'set', 'remove', 'rename']);
  if (!o) return undefined;
  const before = r.errors.length;
  const q = {
    add: nameValues(r, o.add, `${p}.add`, false),
    set: nameValues(r, o.set, `${p}.set`, false),
    remove: r.arr(o.remove, `${p}.remove`, (x, s) => r.str(x, s, { required: true })),
    rename: r.arr(o.rename, `${p}.rename`, (x, s) => {
      const m = r.obj(x, s, ['from', 'to'], ['from', 'to']);
      if (!m) return undefined;
      const from = r.str(m.from, `${s}.from`, { required: true });
      const to = r.str(m.to, `${s}.to`, { required: true });
      return from === undefined || to === undefined ? undefined : { from, to };
    }),
  };
  if (!q.add.length && !q.set.length && !q.remove.length && !q.rename.length && r.errors.length === before) r.err(p, 'needs add, set, remove or rename');
  return q;
}

function pointer(r: Reader, v: unknown, p: string): string | undefined {
  const s = r.str(v, p, { required: true });
  if (s === undefined) return undefined;
  const parsed = parsePointer(s);
  if (typeof parsed === 'string') {
    r.err(p, parsed);
    return undefined;
  }
  return s;
}

function readBody(r: Reader, v: unknown, p: string, request: boolean): BodyFieldSpec[] {
  return r.arr(v, p, (x, q) => {
    const o = r.obj(x, q, ['pointer', ...ACTIONS], ['pointer']);
    if (!o) return undefined;
    const at = pointer(r, o.pointer, `${q}.pointer`);
    const set = ACTIONS.filter((k) => o[k] !== undefined);
    if (set.length !== 1) {
      r.err(q, set.length ? `set only one of ${set.join(', ')}` : `needs one of ${ACTIONS.join(', ')}`);
      return undefined;
    }
    if (at === undefined) return undefined;
    const k = set[0]!;
    const aq = `${q}.${k}`;
    switch (k) {
      case 'rename': {
        if (at === '') r.err(`${q}.pointer`, 'the whole body cannot be renamed');
        const to = pointer(r, o.rename, aq);
        return to === undefined || at === '' ? undefined : { pointer: at, rename: to };
      }
      case 'remove':
        if (o.remove !== true) r.err(aq, 'must be true (leave it out to keep the field)');
        else if (at === '') r.err(`${q}.pointer`, 'the whole body cannot be removed');
        else return { pointer: at, remove: true };
        return undefined;
      case 'value':
        return { pointer: at, value: o.value };
      case 'fromHeader': {
        if (!request) {
          r.err(aq, 'a response body field cannot take a request header');
          return undefined;
        }
        const h = r.str(o.fromHeader, aq, { required: true, pattern: HEADER_NAME, patternHelp: 'a lowercase header name' });
        return h === undefined ? undefined : { pointer: at, fromHeader: h };
      }
      case 'fromJwtClaim': {
        const c = pointer(r, o.fromJwtClaim, aq);
        return c === undefined ? undefined : { pointer: at, fromJwtClaim: c };
      }
      case 'fromConsumer':
        if (o.fromConsumer !== true) {
          r.err(aq, 'must be true (leave it out otherwise)');
          return undefined;
        }
        return { pointer: at, fromConsumer: true };
    }
    return undefined;
  });
}

export function readTransformationPolicy(r: Reader, v: unknown): TransformationPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['request', 'response', 'maxBodyBytes', 'targetRefs']);
  if (!o) {
    r.err('spec', 'needs request or response');
    return undefined;
  }
  const before = r.errors.length;
  const rq: Obj = r.obj(o.request, 'spec.request', ['headers', 'queryParams', 'body', 'jsonToXml']) ?? {};
  const rs: Obj = r.obj(o.response, 'spec.response', ['headers', 'body', 'xmlToJson']) ?? {};
  const request: TransformationPolicySpec['request'] = { body: readBody(r, rq.body, 'spec.request.body', true) };
  const h = readHeaders(r, rq.headers, 'spec.request.headers');
  if (h) request.headers = h;
  const qp = readQuery(r, rq.queryParams, 'spec.request.queryParams');
  if (qp) request.queryParams = qp;
  const x = r.obj(rq.jsonToXml, 'spec.request.jsonToXml', ['rootElement'], ['rootElement']);
  if (x) {
    const root = r.str(x.rootElement, 'spec.request.jsonToXml.rootElement', { required: true, pattern: XML_NAME, patternHelp: 'an XML element name' });
    if (root !== undefined) request.jsonToXml = { rootElement: root };
  }
  const response: TransformationPolicySpec['response'] = { body: readBody(r, rs.body, 'spec.response.body', false), xmlToJson: r.bool(rs.xmlToJson, 'spec.response.xmlToJson') ?? false };
  const rh = readHeaders(r, rs.headers, 'spec.response.headers');
  if (rh) response.headers = rh;
  const anything = request.body.length || request.headers || request.queryParams || request.jsonToXml || response.body.length || response.headers || response.xmlToJson;
  if (!anything && r.errors.length === before) r.err('spec', 'transforms nothing: set spec.request or spec.response rules');
  const bodyRules = request.body.length || request.jsonToXml || response.body.length || response.xmlToJson;
  const spec: TransformationPolicySpec = { request, response, targetRefs: readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false, services: true }) };
  if (present(o.maxBodyBytes)) {
    const n = r.int(o.maxBodyBytes, 'spec.maxBodyBytes', 1, MAX_BODY_BOUND);
    if (!bodyRules) r.err('spec.maxBodyBytes', 'has no effect without a body rule (request.body, request.jsonToXml, response.body, response.xmlToJson)');
    if (n !== undefined) spec.maxBodyBytes = n;
  }
  return spec;
}

export const transformationPolicyKind: KindDefinition<'TransformationPolicy'> = {
  kind: 'TransformationPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'transformationpolicies',
  shortNames: [],
  read: (r, spec) => readTransformationPolicy(r, spec),
  references(res, ctx) {
    targetRefReferences(res, ctx.model.transformationPolicies.values(), ctx);
    httpServiceTargets(res, ctx);
  },
  addToModel: (b, res) => void b.transformationPolicies.set(`TransformationPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const { request: q, response: s } = res.spec;
    const what = [q.headers ? 'request headers' : '', q.queryParams ? 'query' : '', q.body.length ? 'request body' : '', q.jsonToXml ? 'json->xml' : '', s.headers ? 'response headers' : '', s.body.length ? 'response body' : '', s.xmlToJson ? 'xml->json' : ''].filter(Boolean);
    const targets = res.spec.targetRefs.map((t) => (t.sectionName ? `${t.name}/${t.sectionName}` : `${t.kind === 'Service' ? 'svc/' : ''}${t.name}`));
    return `${what.join(', ')}${targets.length ? `; targets ${targets.join(', ')}` : ''}`;
  },
};
