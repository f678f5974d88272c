/**
 * weft.filters.http.api_lifecycle (ApiLifecyclePolicy): the lifecycle of an API version. The
 * listener-level `ApiLifecycle` has no options; a virtual host's or route's `ApiLifecyclePolicy`
 * turns the filter on there, and routes without one do not run it.
 *
 * Every response of a route with a policy (the upstream's, or one the proxy made after this
 * filter) carries, as built once when the config is applied:
 *  - `Deprecation: @<seconds>`: RFC 9745, a Structured Field Date (RFC 9651 sf-date), the
 *    deprecation date (future: will be deprecated then; `@0` when the policy gives no date);
 *  - `Sunset: <IMF-fixdate>`: RFC 8594, when the version stops answering, if announced;
 *  - `Link: <successor>; rel="successor-version"` (RFC 5829) and `Link: <docs>; rel="deprecation"`
 *    (RFC 9745 section 3), appended to the response's own Link values.
 * With `reject_after_sunset`, a request from the sunset on is answered 410 Gone (API_SUNSET),
 * with the same headers, and never forwarded.
 *
 * Usage is counted per policy and consumer (`weft_api_deprecated_requests_total`, the consumer
 * label bounded by telemetry/consumer-label.ts): the filter runs after authentication and rate
 * limits, so the consumer is known and refused requests are not counted.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import type { ApiLifecyclePolicy } from '../../../proto/gen/weft/v1/lifecycle_pb.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Problems } from '../../xds/types/decoded.js';
import { consumerLabels } from '../../telemetry/consumer-label.js';
import { noOptions } from './no-options.js';
import { ForwardingSink, type Filter, type HttpFilterFactory, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';

const FIELDS = supportedFields({
  'weft.v1.ApiLifecyclePolicy': ['name', 'deprecated', 'deprecation_time', 'sunset_time', 'successor', 'link', 'reject_after_sunset'],
});
/** Latest second a JavaScript Date holds. */
const MAX_SECONDS = 8_640_000_000_000n;
/** Visible ASCII without the characters that would end or break a Link target. */
const LINK_TARGET = /^[\x21-\x3b\x3d\x3f-\x7e]+$/;

/** The clock the sunset is compared with (tests replace `now`). */
export const lifecycleClock = { now: (): number => Date.now() };

/** Per policy and consumer label: what the filter did. */
export interface LifecycleCounters {
  /** Requests to a version with a policy, forwarded with the lifecycle headers. */
  deprecated: number;
  /** Requests answered 410 after the sunset. */
  sunsetRejected: number;
}

const COUNTERS = new Map<string, Map<string, LifecycleCounters>>();

/** Policy name -> consumer label -> counters, for the proxy's metrics. */
export function lifecycleCounters(): ReadonlyMap<string, ReadonlyMap<string, LifecycleCounters>> {
  return COUNTERS;
}

/** An ApiLifecyclePolicy, compiled: the header values and the sunset instant. */
export interface Lifecycle {
  readonly name: string;
  readonly deprecation: string;
  /** '' when no sunset is announced. */
  readonly sunset: string;
  /** The Link values this policy adds ('' when none). */
  readonly link: string;
  /** Epoch ms from which requests are answered 410; Infinity: never. */
  readonly rejectFromMs: number;
  readonly goneMessage: string;
  readonly counters: Map<string, LifecycleCounters>;
}

/** The RFC 9745 value: a Structured Field Date, `@` and integer seconds. */
export function deprecationValue(seconds: bigint): string {
  return `@${seconds}`;
}

/** The RFC 8594 value: an HTTP-date in the IMF-fixdate form (RFC 9110 section 5.6.7). */
export function sunsetValue(seconds: bigint): string {
  return new Date(Number(seconds) * 1000).toUTCString();
}

function checkSeconds(p: Problems, path: string, s: bigint | undefined): void {
  if (s !== undefined && (s < 0n || s > MAX_SECONDS)) p.add(path, `${s} is not a date from 1970 to year 275760`);
}

function checkUrl(p: Problems, path: string, s: string): void {
  if (!s) return;
  let ok = LINK_TARGET.test(s);
  if (ok) {
    try {
      const u = new URL(s);
      ok = u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      ok = false;
    }
  }
  if (!ok) p.add(path, `'${s}' is not an absolute http(s) URL a Link header can carry`);
}

export function compileLifecycle(pol: ApiLifecyclePolicy): Lifecycle {
  const links: string[] = [];
  if (pol.successor) links.push(`<${pol.successor}>; rel="successor-version"`);
  if (pol.link) links.push(`<${pol.link}>; rel="deprecation"`);
  let counters = COUNTERS.get(pol.name);
  if (!counters) COUNTERS.set(pol.name, (counters = new Map()));
  const sunset = pol.sunsetTime === undefined ? '' : sunsetValue(pol.sunsetTime);
  return Object.freeze({
    name: pol.name,
    deprecation: deprecationValue(pol.deprecationTime ?? 0n),
    sunset,
    link: links.join(', '),
    rejectFromMs: pol.rejectAfterSunset && pol.sunsetTime !== undefined ? Number(pol.sunsetTime) * 1000 : Infinity,
    goneMessage: `this API version was retired on ${sunset} (ApiLifecyclePolicy ${pol.name})${pol.successor ? `; use ${pol.successor}` : ''}`,
    counters,
  });
}

function countersFor(l: Lifecycle, consumer: string): LifecycleCounters {
  const label = consumerLabels.label(consumer);
  let c = l.counters.get(label);
  if (!c) l.counters.set(label, (c = { deprecated: 0, sunsetRejected: 0 }));
  return c;
}

/** A sink that adds the lifecycle headers to whatever response head passes through it. */
class LifecycleSink extends ForwardingSink {
  constructor(
    res: ResponseSink,
    readonly l: Lifecycle,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    this.res.writeHead(status, this.#add(headers), endStream);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly(this.#add(headers));
  }
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, this.#add({ ...headers }), body);
  }
  #add(headers: ResponseHeaders): ResponseHeaders {
    const l = this.l;
    headers.deprecation = l.deprecation;
    if (l.sunset) headers.sunset = l.sunset;
    if (l.link) {
      const own = headers.link;
      headers.link = own === undefined || own === '' ? l.link : Array.isArray(own) ? [...own, l.link] : `${own}, ${l.link}`;
    }
    return headers;
  }
}

function lifecycleFilter(l: Lifecycle): Filter {
  return (next) => (req, res, info) => {
    const c = countersFor(l, info.consumer);
    const sink = new LifecycleSink(res, l);
    if (lifecycleClock.now() >= l.rejectFromMs) {
      c.sunsetRejected++;
      respondError(req, sink, info, 'API_SUNSET', l.goneMessage);
      return;
    }
    c.deprecated++;
    next(req, sink, info);
  };
}

export const apiLifecycle: HttpFilterFactory<true, Lifecycle> = {
  extension: EXTENSIONS.apiLifecycle,
  parse: noOptions(EXTENSIONS.apiLifecycle),
  perRoute: {
    schema: EXTENSIONS.apiLifecyclePolicy.schema,
    parse(any, p, path) {
      const pol = unpackAny(any, EXTENSIONS.apiLifecyclePolicy.schema);
      if (!pol) {
        p.add(path, 'is not an ApiLifecyclePolicy');
        return undefined;
      }
      const before = p.errors.length;
      checkSupported(EXTENSIONS.apiLifecyclePolicy.schema, pol, FIELDS, p, path);
      if (!pol.name) p.add(`${path}.name`, 'is required (the policy label of the lifecycle metrics)');
      if (!pol.deprecated) p.add(`${path}.deprecated`, 'must be true: a policy for a version that is not deprecated has nothing to say');
      checkSeconds(p, `${path}.deprecation_time`, pol.deprecationTime);
      checkSeconds(p, `${path}.sunset_time`, pol.sunsetTime);
      if (pol.sunsetTime !== undefined && pol.deprecationTime !== undefined && pol.sunsetTime < pol.deprecationTime) p.add(`${path}.sunset_time`, 'is before deprecation_time (RFC 9745 section 4)');
      if (pol.rejectAfterSunset && pol.sunsetTime === undefined) p.add(`${path}.reject_after_sunset`, 'needs sunset_time');
      checkUrl(p, `${path}.successor`, pol.successor);
      checkUrl(p, `${path}.link`, pol.link);
      return p.errors.length === before ? compileLifecycle(pol) : undefined;
    },
  },
  create: (_cfg, policy) => (policy ? lifecycleFilter(policy) : undefined),
  explain(_cfg, policy) {
    if (!policy) return undefined;
    if (lifecycleClock.now() >= policy.rejectFromMs) return { effect: 'deny', detail: `API lifecycle policy ${policy.name}: past its sunset (${policy.sunset}), requests are answered 410`, refuses: '410 API_SUNSET' };
    return { effect: 'applies', detail: `API lifecycle policy ${policy.name}: deprecated (Deprecation: ${policy.deprecation}${policy.sunset ? `, Sunset: ${policy.sunset}` : ''}); forwarded with those headers` };
  },
};
