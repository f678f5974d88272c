/**
 * Weft's aggregation filter (weft.filters.http.aggregation, AggregationPolicy): a route whose
 * typed_per_filter_config carries an Aggregation is answered here with one JSON object composed
 * from sub-requests, each call's body under its name. The listener-level filter has no options.
 *
 * - Each call is a sub-request (http/subrequest.ts) dispatched through this listener's route table
 *   (FilterContext.dispatch): its route's filters, balancing, retries, outlier detection, mTLS and
 *   CLIENT spans (children of this request's SERVER span) apply as to any request.
 * - Calls start as soon as the calls they depend on succeeded; calls without dependencies start at
 *   once, in parallel. Each has its own timeout, from its start.
 * - A call fails on a non-2xx answer, a reset, its timeout, a body over max_call_body_bytes or
 *   a body that is not JSON (an empty body is null). A required call's failure answers 504 (a
 *   timeout) or 502 with `x-weft-error: AGGREGATION_FAILED` naming the call, and cancels the rest.
 *   An optional call's failure (or a call skipped because an optional call it depends on failed)
 *   leaves its key null; the answer is 200 with `x-weft-partial` listing those calls.
 *
 * Templates are compiled when the route is decoded; a request substitutes values and allocates
 * one record for the composition.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { randomUUID } from 'node:crypto';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { isTemplateName, parseCallTemplate, parsePathTemplate } from '../../../common/aggregation-template.js';
import type { Aggregation as AggregationMsg } from '../../../proto/gen/weft/v1/aggregation_pb.js';
import { checkDuration, type Problems } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { RequestInfo, type FilterContext, type Filter, type HttpFilterFactory, type RequestHead, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';
import { CollectSink, SubRequest, type CollectOutcome } from '../subrequest.js';
import { noOptions } from './no-options.js';

const FIELDS = supportedFields({
  'weft.v1.Aggregation': ['calls', 'path_template', 'max_call_body_bytes'],
  'weft.v1.Aggregation.Call': ['name', 'method', 'path', 'host', 'headers', 'timeout', 'optional', 'depends_on'],
});
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
/** Passed to every call when the caller sent them: the trace context (the request id always is). */
const ALWAYS_PASSED = ['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'];
const MAX_CALLS = 16;
const MAX_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_BODY = 1 << 20;
const MAX_BODY = 16 << 20;

/** A compiled piece of a call's target: literal text, a path segment, a query parameter, a value of an earlier call. */
type Part = string | { readonly segment: number } | { readonly query: string } | { readonly call: number; readonly keys: readonly string[] };

export interface CompiledCall {
  readonly name: string;
  /** `"name":`, the call's key in the merged object. */
  readonly key: string;
  readonly method: string;
  /** undefined: the incoming request's authority. */
  readonly host: string | undefined;
  readonly parts: readonly Part[];
  /** Headers copied from the incoming request, when present. */
  readonly headers: readonly string[];
  readonly timeoutMs: number;
  readonly optional: boolean;
  readonly deps: readonly number[];
  readonly dependents: readonly number[];
  /** A later call reads this call's JSON: its parsed body is kept. */
  readonly keepValue: boolean;
}

export interface Aggregation {
  readonly calls: readonly CompiledCall[];
  /** The incoming path's segments: literal text, or null where a `{NAME}` takes the segment. */
  readonly template: readonly (string | null)[] | undefined;
  readonly maxBodyBytes: number;
}

function parseRoute(any: Any, p: Problems, path: string): Aggregation | undefined {
  const m = unpackAny(any, EXTENSIONS.aggregation.schema) as AggregationMsg | undefined;
  if (!m) {
    p.add(path, 'is not a weft.v1.Aggregation');
    return undefined;
  }
  checkSupported(EXTENSIONS.aggregation.schema, m, FIELDS, p, path);
  const before = p.errors.length;
  let template: (string | null)[] | undefined;
  const segmentOf = new Map<string, number>();
  if (m.pathTemplate) {
    const t = parsePathTemplate(m.pathTemplate);
    if ('error' in t) p.add(`${path}.path_template`, `'${m.pathTemplate}' ${t.error}`);
    else
      template = t.segments.map((s, i) => {
        if (typeof s === 'string') return s;
        segmentOf.set(s.name, i);
        return null;
      });
  }
  if (m.calls.length === 0) p.add(`${path}.calls`, 'must not be empty');
  if (m.calls.length > MAX_CALLS) p.add(`${path}.calls`, `must have at most ${MAX_CALLS} calls`);
  const index = new Map<string, number>();
  m.calls.forEach((c, i) => {
    if (!isTemplateName(c.name)) p.add(`${path}.calls[${i}].name`, `'${c.name}' is not a call name`);
    else if (index.has(c.name)) p.add(`${path}.calls[${i}].name`, `'${c.name}' is used twice`);
    index.set(c.name, i);
  });
  const dependents: number[][] = m.calls.map(() => []);
  const keep = m.calls.map(() => false);
  const compiled = m.calls.map((c, i) => {
    const q = `${path}.calls[${i}]`;
    const method = c.method || 'GET';
    if (!METHODS.has(method)) p.add(`${q}.method`, `unsupported method '${c.method}'`);
    const deps: number[] = [];
    c.dependsOn.forEach((d, j) => {
      const k = index.get(d);
      if (k === undefined || k === i) p.add(`${q}.depends_on[${j}]`, `'${d}' is not another call of this aggregation`);
      else {
        deps.push(k);
        dependents[k]!.push(i);
      }
    });
    const parts: Part[] = [];
    const t = parseCallTemplate(c.path);
    if ('error' in t) p.add(`${q}.path`, `'${c.path}' ${t.error}`);
    else
      for (const part of t) {
        if (part.kind === 'literal') parts.push(part.text);
        else if (part.kind === 'query') parts.push({ query: part.name });
        else if (part.kind === 'path') {
          const s = segmentOf.get(part.name);
          if (s === undefined) p.add(`${q}.path`, `{path.${part.name}} names no segment of path_template`);
          else parts.push({ segment: s });
        } else {
          const k = index.get(part.call);
          if (k === undefined || !c.dependsOn.includes(part.call)) p.add(`${q}.path`, `{calls.${part.call}...} needs '${part.call}' in depends_on`);
          else {
            keep[k] = true;
            parts.push({ call: k, keys: part.keys });
          }
        }
      }
    if (c.host && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$/.test(c.host)) p.add(`${q}.host`, `'${c.host}' is not a lowercase host[:port]`);
    c.headers.forEach((h, j) => HEADER.test(h) || p.add(`${q}.headers[${j}]`, `'${h}' is not a lowercase header name`));
    if (!c.timeout) p.add(`${q}.timeout`, 'is required');
    else checkDuration(p, `${q}.timeout`, c.timeout, { positive: true, maxMs: MAX_TIMEOUT_MS });
    const timeoutMs = c.timeout ? Number(c.timeout.seconds) * 1000 + Math.ceil(c.timeout.nanos / 1e6) : 0;
    return { name: c.name, method, host: c.host || undefined, parts, headers: [...new Set([...c.headers, ...ALWAYS_PASSED])].filter((h) => h !== 'x-request-id'), timeoutMs, optional: c.optional, deps };
  });
  if (hasCycle(compiled.map((c) => c.deps))) p.add(`${path}.calls`, 'the calls\' depends_on form a cycle');
  const maxBodyBytes = m.maxCallBodyBytes || DEFAULT_MAX_BODY;
  if (maxBodyBytes > MAX_BODY) p.add(`${path}.max_call_body_bytes`, `must be at most ${MAX_BODY}`);
  if (p.errors.length > before) return undefined;
  return {
    calls: compiled.map((c, i) => ({ ...c, key: `${JSON.stringify(c.name)}:`, dependents: dependents[i]!, keepValue: keep[i]! })),
    template,
    maxBodyBytes,
  };
}

function hasCycle(deps: readonly (readonly number[])[]): boolean {
  const state = new Uint8Array(deps.length);
  const visit = (i: number): boolean => {
    if (state[i] === 2) return false;
    if (state[i] === 1) return true;
    state[i] = 1;
    for (const d of deps[i]!) if (visit(d)) return true;
    state[i] = 2;
    return false;
  };
  for (let i = 0; i < deps.length; i++) if (visit(i)) return true;
  return false;
}

const enum State {
  Waiting,
  Running,
  Ok,
  Failed,
}

/** A failed call: why, and whether it is a timeout (a required one answers 504). */
interface Failure {
  readonly reason: string;
  readonly timeout: boolean;
}

/** One request's composition: the calls' states and results. */
class Composition {
  readonly #state: State[];
  readonly #raw: (string | undefined)[];
  readonly #value: unknown[];
  readonly #sink: (CollectSink | undefined)[];
  readonly #timer: (NodeJS.Timeout | undefined)[];
  readonly #timedOut: boolean[];
  #pending: number;
  #done = false;
  #segments: string[] | undefined;
  #query: URLSearchParams | undefined;
  /** The composed request's id, sent with every call (one id across the fan-out in the logs). */
  #rid = '';

  constructor(
    private readonly agg: Aggregation,
    private readonly dispatch: NonNullable<FilterContext['dispatch']>,
    private readonly req: RequestHead,
    private readonly res: ResponseSink,
    private readonly info: RequestInfo,
  ) {
    const n = agg.calls.length;
    this.#state = new Array<State>(n).fill(State.Waiting);
    this.#raw = new Array<string | undefined>(n);
    this.#value = new Array<unknown>(n);
    this.#sink = new Array<CollectSink | undefined>(n);
    this.#timer = new Array<NodeJS.Timeout | undefined>(n);
    this.#timedOut = new Array<boolean>(n).fill(false);
    this.#pending = n;
  }

  start(): void {
    const t = this.agg.template;
    if (t) {
      const segs = this.req.path.slice(1).split('/');
      if (segs.length !== t.length || t.some((s, i) => s !== null && s !== segs[i])) {
        respondError(this.req, this.res, this.info, 'NO_ROUTE', `${this.req.path} does not match the aggregation's path template`);
        return;
      }
      this.#segments = segs;
    }
    // A body is not used: read and dropped, so the connection stays usable.
    if (this.req.hasBody) {
      this.req.body.on('error', () => undefined);
      this.req.body.resume();
    }
    this.res.onClientGone(() => this.#cancel());
    this.#rid = this.req.header('x-request-id') || randomUUID();
    this.info.requestId = this.#rid;
    const calls = this.agg.calls;
    for (let i = 0; i < calls.length && !this.#done; i++) if (calls[i]!.deps.length === 0) this.#launch(i);
  }

  #launch(i: number): void {
    const call = this.agg.calls[i]!;
    const target = this.#target(call);
    if (typeof target !== 'string') return this.#fail(i, { reason: target.error, timeout: false });
    const q = target.indexOf('?');
    const req = this.req;
    const pairs: string[] = ['x-request-id', this.#rid];
    for (const h of call.headers) {
      const v = req.header(h);
      if (v !== undefined) pairs.push(h, v);
    }
    const sub = new SubRequest(call.method, call.host ?? req.authority, q < 0 ? target : target.slice(0, q), q < 0 ? '' : target.slice(q), pairs, req);
    const info = new RequestInfo();
    info.edge = this.info.edge;
    info.traceCtx = this.info.traceCtx;
    // Made for the caller, as the caller: authenticated and counted once, on the composed request.
    info.parent = this.info;
    info.consumer = this.info.consumer;
    info.plan = this.info.plan;
    info.jwt = this.info.jwt;
    const sink = new CollectSink(this.agg.maxBodyBytes, (o) => this.#collected(i, o));
    this.#state[i] = State.Running;
    this.#sink[i] = sink;
    this.#timer[i] = setTimeout(() => {
      this.#timedOut[i] = true;
      sink.cancel('cancelled');
    }, call.timeoutMs);
    try {
      this.dispatch(sub, sink, info);
    } catch {
      // A stage that threw left the sub-request unanswered: it counts as a reset.
      sink.cancel('reset');
    }
  }

  /** The call's path and query with the values substituted, or why it cannot be made. */
  #target(call: CompiledCall): string | { error: string } {
    let out = '';
    for (const part of call.parts) {
      if (typeof part === 'string') out += part;
      else if ('segment' in part) out += this.#segments![part.segment]!;
      else if ('query' in part) {
        this.#query ??= new URLSearchParams(this.req.search);
        const v = this.#query.get(part.query);
        if (v === null) return { error: `needs query parameter '${part.query}', which the request does not have` };
        out += encodeURIComponent(v);
      } else {
        let v: unknown = this.#value[part.call];
        for (const k of part.keys) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          return { error: `needs calls.${this.agg.calls[part.call]!.name}.body.${part.keys.join('.')}, which is not a string, number or boolean in that call's response` };
        }
        out += encodeURIComponent(String(v));
      }
    }
    return out;
  }

  #collected(i: number, o: CollectOutcome): void {
    clearTimeout(this.#timer[i]);
    this.#sink[i] = undefined;
    if (this.#done) return;
    const call = this.agg.calls[i]!;
    if (!o.ok) {
      if (this.#timedOut[i]) return this.#fail(i, { reason: `timed out after ${call.timeoutMs}ms`, timeout: true });
      return this.#fail(i, { reason: o.reason === 'too-large' ? `answered a body larger than ${this.agg.maxBodyBytes} bytes` : 'was reset before it answered', timeout: false });
    }
    if (o.status < 200 || o.status > 299) {
      const code = o.headers['x-weft-error'];
      return this.#fail(i, { reason: `answered ${o.status}${code ? ` (${String(code)})` : ''}`, timeout: o.status === 504 || code === 'UPSTREAM_TIMEOUT' });
    }
    let raw = o.body.length ? o.body.toString('utf8') : 'null';
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      return this.#fail(i, { reason: 'answered a body that is not JSON', timeout: false });
    }
    if (raw.length !== 0 && (raw.charCodeAt(raw.length - 1) <= 32 || raw.charCodeAt(0) <= 32)) raw = raw.trim();
    this.#state[i] = State.Ok;
    this.#raw[i] = raw;
    if (call.keepValue) this.#value[i] = value;
    this.#pending--;
    this.#next(i);
  }

  #fail(i: number, f: Failure): void {
    this.#state[i] = State.Failed;
    const call = this.agg.calls[i]!;
    if (!call.optional) {
      this.#cancel();
      respondError(this.req, this.res, this.info, 'AGGREGATION_FAILED', `call '${call.name}' ${f.reason}`, f.timeout ? 504 : 502);
      return;
    }
    this.#pending--;
    this.#next(i);
  }

  /** After call `i` ended: start the calls it was the last dependency of; answer when all ended. */
  #next(i: number): void {
    const calls = this.agg.calls;
    for (const j of calls[i]!.dependents) {
      if (this.#done) return;
      if (this.#state[j] !== State.Waiting) continue;
      let ready = true;
      let failed = -1;
      for (const d of calls[j]!.deps) {
        const s = this.#state[d];
        if (s === State.Failed) failed = d;
        else if (s !== State.Ok) ready = false;
      }
      if (failed >= 0) this.#fail(j, { reason: `was not made: '${calls[failed]!.name}', which it depends on, failed`, timeout: false });
      else if (ready) this.#launch(j);
    }
    if (this.#pending === 0 && !this.#done) this.#answer();
  }

  #answer(): void {
    this.#done = true;
    const calls = this.agg.calls;
    let body = '{';
    let partial = '';
    for (let i = 0; i < calls.length; i++) {
      const c = calls[i]!;
      if (i) body += ',';
      body += c.key;
      if (this.#state[i] === State.Ok) body += this.#raw[i]!;
      else {
        body += 'null';
        partial += partial ? `,${c.name}` : c.name;
      }
    }
    body += '}';
    const headers: ResponseHeaders = { 'content-type': 'application/json' };
    if (partial) headers['x-weft-partial'] = partial;
    this.res.respondSimple(200, headers, body);
  }

  /** Ends the composition: every call in flight is cancelled (their exchanges stop). */
  #cancel(): void {
    if (this.#done) return;
    this.#done = true;
    for (let i = 0; i < this.#sink.length; i++) {
      clearTimeout(this.#timer[i]);
      this.#sink[i]?.cancel('cancelled');
    }
  }
}

function aggregationFilter(agg: Aggregation, dispatch: NonNullable<FilterContext['dispatch']>): Filter {
  return () => (req, res, info) => {
    // A call whose route aggregates again would recurse without end.
    if (req instanceof SubRequest) {
      respondError(req, res, info, 'AGGREGATION_FAILED', 'an aggregation call was routed to an aggregating route');
      return;
    }
    new Composition(agg, dispatch, req, res, info).start();
  };
}

export const aggregation: HttpFilterFactory<true, Aggregation> = {
  extension: EXTENSIONS.aggregationFilter,
  parse: noOptions(EXTENSIONS.aggregationFilter),
  perRoute: { schema: EXTENSIONS.aggregation.schema, parse: parseRoute },
  create: (_cfg, agg, ctx) => {
    if (!agg) return undefined;
    const dispatch = ctx.dispatch;
    // Composed without a listener to dispatch into: the route fails closed, it never forwards.
    if (!dispatch) return () => (req, res, info) => respondError(req, res, info, 'AGGREGATION_FAILED', 'this listener cannot make sub-requests');
    return aggregationFilter(agg, dispatch);
  },
};
