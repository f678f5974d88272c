/**
 * Envoy's fault injection filter (envoy.filters.http.fault, HTTPFault): delays and aborts a share
 * of requests, to test how callers cope. The listener-level config usually has no fault at all
 * (the translator puts an empty HTTPFault there); a route's typed_per_filter_config replaces it.
 *
 * As in Envoy: `headers` select the requests a fault may apply to; the delay comes first, then the
 * abort; each has its own percentage (a FractionalPercent; unset = 0 %). `header_delay` and
 * `header_abort` take the delay (ms) or the status from the request's
 * `x-envoy-fault-delay-request`, `x-envoy-fault-abort-request` (HTTP status) or
 * `x-envoy-fault-abort-grpc-request` (gRPC status), and a request may lower (never raise) the
 * percentage with `x-envoy-fault-delay-request-percentage` / `x-envoy-fault-abort-request-percentage`.
 * `max_active_faults` caps the requests being delayed or aborted at once. An abort is answered
 * by the answer path (respond.ts) with `x-weft-error: FAULT_ABORT`: the configured HTTP status,
 * or for a gRPC caller the gRPC status (given, or mapped from the HTTP status).
 *
 * Runtime keys, downstream_nodes, upstream_cluster and response_rate_limit are refused.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { grpcCodeForHttp, httpStatusForGrpc } from '../../../common/transcode/transcoder.js';
import type { HTTPFault } from '../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import type { FractionalPercent } from '../../../proto/gen/envoy/type/v3/percent_pb.js';
import { FRACTION_SCALE } from '../../routing/route-table.js';
import { CompiledHeaderMatch } from '../../routing/matchers.js';
import { checkDuration, checkRegex, type Problems } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Filter, HttpFilterFactory, RequestHead } from '../filter.js';
import { respondError } from '../respond.js';

const FIELDS = supportedFields({
  'envoy.extensions.filters.http.fault.v3.HTTPFault': ['delay', 'abort', 'headers', 'max_active_faults'],
  'envoy.extensions.filters.common.fault.v3.FaultDelay': ['fixed_delay', 'header_delay', 'percentage'],
  'envoy.extensions.filters.http.fault.v3.FaultAbort': ['http_status', 'grpc_status', 'header_abort', 'percentage'],
  'envoy.type.v3.FractionalPercent': ['numerator', 'denominator'],
  'envoy.config.route.v3.HeaderMatcher': ['name', 'exact_match', 'safe_regex_match', 'range_match', 'present_match', 'prefix_match', 'suffix_match', 'contains_match', 'string_match', 'invert_match', 'treat_missing_header_as_empty'],
  'envoy.type.matcher.v3.StringMatcher': ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'],
  'envoy.type.matcher.v3.RegexMatcher': ['regex', 'google_re2'],
  'envoy.type.v3.Int64Range': ['start', 'end'],
});

/** Longest delay a header may ask for (Envoy has no cap; an unbounded one would hold a request forever). */
const MAX_HEADER_DELAY_MS = 60_000;

/** A share: numerator out of scale. */
interface Share {
  readonly numerator: number;
  readonly scale: number;
}

/** An HTTPFault, compiled. */
export interface Fault {
  readonly headers: readonly CompiledHeaderMatch[];
  /** undefined: no delay; 'header': from x-envoy-fault-delay-request. */
  readonly delayMs: number | 'header' | undefined;
  readonly delayShare: Share;
  /** undefined: no abort. */
  readonly abort: { readonly http: number } | { readonly grpc: number } | 'header' | undefined;
  readonly abortShare: Share;
  readonly maxActive: number;
  /** Requests this config is delaying or aborting now (for max_active_faults); the listener's counters are faultCounters(). */
  readonly stats: { active: number };
}

function share(f: FractionalPercent | undefined, p: Problems, path: string): Share {
  const scale = f ? FRACTION_SCALE[f.denominator] : 100;
  if (scale === undefined) p.add(`${path}.denominator`, `unsupported denominator ${f?.denominator}`);
  return { numerator: Math.min(f?.numerator ?? 0, scale ?? 100), scale: scale ?? 100 };
}

/** Whether this request falls in the share (a request header may lower it). */
function hit(s: Share, req: RequestHead, header: string): boolean {
  let n = s.numerator;
  if (n === 0) return false;
  const h = req.header(header);
  if (h !== undefined) {
    const v = Number(h);
    if (Number.isInteger(v) && v >= 0) n = Math.min(n, v);
  }
  return n > 0 && (n >= s.scale || Math.random() * s.scale < n);
}

function compile(f: HTTPFault, p: Problems, path: string): Fault {
  checkSupported(EXTENSIONS.fault.schema, f, FIELDS, p, path);
  for (const k of ['delayPercentRuntime', 'abortPercentRuntime', 'delayDurationRuntime', 'abortHttpStatusRuntime', 'maxActiveFaultsRuntime', 'responseRateLimitPercentRuntime', 'abortGrpcStatusRuntime'] as const) {
    if (f[k]) p.add(`${path}.${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`, 'runtime keys are not supported (the sidecar has no runtime)');
  }
  let delayMs: Fault['delayMs'];
  const d = f.delay?.faultDelaySecifier;
  if (f.delay && !d?.case) p.add(`${path}.delay`, 'fixed_delay or header_delay is required');
  if (d?.case === 'fixedDelay') {
    checkDuration(p, `${path}.delay.fixed_delay`, d.value, { maxMs: 3_600_000 });
    delayMs = Number(d.value.seconds) * 1000 + Math.floor(d.value.nanos / 1e6);
  } else if (d?.case === 'headerDelay') delayMs = 'header';
  let abort: Fault['abort'];
  const a = f.abort?.errorType;
  if (f.abort && !a?.case) p.add(`${path}.abort`, 'http_status, grpc_status or header_abort is required');
  if (a?.case === 'httpStatus') {
    if (a.value < 200 || a.value > 599) p.add(`${path}.abort.http_status`, 'must be 200..599');
    abort = { http: a.value };
  } else if (a?.case === 'grpcStatus') {
    if (a.value > 16) p.add(`${path}.abort.grpc_status`, 'must be a gRPC status code (0..16)');
    abort = { grpc: a.value };
  } else if (a?.case === 'headerAbort') abort = 'header';
  f.headers.forEach((h, i) => {
    const hs = h.headerMatchSpecifier;
    if (hs.case === 'safeRegexMatch') checkRegex(p, `${path}.headers[${i}].safe_regex_match.regex`, hs.value.regex);
    if (hs.case === 'stringMatch' && hs.value.matchPattern.case === 'safeRegex') checkRegex(p, `${path}.headers[${i}].string_match.safe_regex.regex`, hs.value.matchPattern.value.regex);
  });
  return {
    headers: p.errors.length ? [] : f.headers.map((h) => new CompiledHeaderMatch(h)),
    delayMs,
    delayShare: share(f.delay?.percentage, p, `${path}.delay.percentage`),
    abort,
    abortShare: share(f.abort?.percentage, p, `${path}.abort.percentage`),
    maxActive: f.maxActiveFaults ?? Infinity,
    stats: { active: 0 },
  };
}

function parse(any: Parameters<HttpFilterFactory['parse']>[0], p: Problems, path: string): Fault | undefined {
  const f = unpackAny(any, EXTENSIONS.fault.schema);
  if (!f) {
    p.add(path, 'is not an HTTPFault');
    return undefined;
  }
  return compile(f, p, path);
}

/** The delay for this request in ms, or -1 for none. */
function delayFor(f: Fault, req: RequestHead): number {
  if (f.delayMs === undefined) return -1;
  let ms = f.delayMs;
  if (ms === 'header') {
    const v = Number(req.header('x-envoy-fault-delay-request'));
    if (!Number.isInteger(v) || v <= 0) return -1;
    ms = Math.min(v, MAX_HEADER_DELAY_MS);
  }
  return hit(f.delayShare, req, 'x-envoy-fault-delay-request-percentage') ? ms : -1;
}

/** [HTTP status, gRPC status] of this request's abort, or undefined for none. */
function abortFor(f: Fault, req: RequestHead): [number, number] | undefined {
  const a = f.abort;
  if (a === undefined) return undefined;
  let http: number;
  let grpc: number;
  if (a === 'header') {
    const g = req.header('x-envoy-fault-abort-grpc-request');
    const h = req.header('x-envoy-fault-abort-request');
    if (g !== undefined && /^\d{1,2}$/.test(g) && Number(g) <= 16) {
      grpc = Number(g);
      http = httpStatusForGrpc(grpc);
    } else if (h !== undefined && /^\d{3}$/.test(h) && Number(h) >= 200 && Number(h) <= 599) {
      http = Number(h);
      grpc = grpcCodeForHttp(http);
    } else return undefined;
  } else if ('http' in a) {
    http = a.http;
    grpc = grpcCodeForHttp(http);
  } else {
    grpc = a.grpc;
    http = httpStatusForGrpc(grpc);
  }
  return hit(f.abortShare, req, 'x-envoy-fault-abort-request-percentage') ? [http, grpc] : undefined;
}

/** Envoy's fault.delays_injected, aborts_injected and active_faults, per listener (/stats/prometheus). */
export interface FaultCounters {
  delays: number;
  aborts: number;
  active: number;
}
const COUNTERS = new Map<string, FaultCounters>();

/** Every listener's fault counters (they outlive the chains, which are rebuilt on each update). */
export function faultCounters(): ReadonlyMap<string, FaultCounters> {
  return COUNTERS;
}

function countersFor(listener: string): FaultCounters {
  let c = COUNTERS.get(listener);
  if (!c) COUNTERS.set(listener, (c = { delays: 0, aborts: 0, active: 0 }));
  return c;
}

function faultFilter(f: Fault, listener: string): Filter {
  const stats = f.stats;
  const total = countersFor(listener);
  return (next) => (req, res, info) => {
    if (stats.active >= f.maxActive) return next(req, res, info);
    for (let i = 0; i < f.headers.length; i++) if (!f.headers[i]!.test(req)) return next(req, res, info);
    const abort = abortFor(f, req);
    const delay = delayFor(f, req);
    if (delay < 0 && !abort) return next(req, res, info);
    stats.active++;
    total.active++;
    const go = (): void => {
      stats.active--;
      total.active--;
      if (abort) {
        total.aborts++;
        respondError(req, res, info, 'FAULT_ABORT', 'fault filter abort', abort[0], abort[1]);
      } else next(req, res, info);
    };
    if (delay < 0) return go();
    total.delays++;
    let pending = true;
    const t = setTimeout(() => {
      pending = false;
      go();
    }, delay);
    res.onClientGone(() => {
      if (!pending) return;
      pending = false;
      clearTimeout(t);
      stats.active--;
      total.active--;
    });
  };
}

export const fault: HttpFilterFactory<Fault, Fault> = {
  extension: EXTENSIONS.fault,
  parse,
  perRoute: { schema: EXTENSIONS.faultPolicy.schema, parse },
  create: (cfg, route, ctx) => {
    const f = route ?? cfg;
    return f.delayMs === undefined && f.abort === undefined ? undefined : faultFilter(f, ctx.listener);
  },
  explain(cfg, route, req) {
    const f = route ?? cfg;
    if (f.delayMs === undefined && f.abort === undefined) return undefined;
    const share = (s: Share) => `${Math.round((10_000 * s.numerator) / s.scale) / 100}%`;
    if (!f.headers.every((h) => h.test(req))) return { effect: 'applies', detail: `no fault for this request (${f.headers.map((h) => h.describe()).join(', ')} not met)` };
    const parts = [
      f.delayMs !== undefined ? `delay ${f.delayMs === 'header' ? 'from the x-envoy-fault-delay-request header' : `${f.delayMs} ms`} for ${share(f.delayShare)}` : '',
      f.abort !== undefined ? `abort ${f.abort === 'header' ? 'from the x-envoy-fault-abort-request header' : 'http' in f.abort ? `with HTTP ${f.abort.http}` : `with gRPC status ${f.abort.grpc}`} for ${share(f.abortShare)} (FAULT_ABORT)` : '',
    ].filter(Boolean);
    return { effect: 'applies', detail: `fault injection: ${parts.join('; ')}` };
  },
};
