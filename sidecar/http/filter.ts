/**
 * The HTTP filter contract (ARCHITECTURE.md, "http filters"). A request is three things, handed
 * separately to every stage:
 *  - the request head (`RequestHead`): read-only facts of the request and its body stream;
 *  - the response sink (`ResponseSink`): head, data, trailers, end, abort. A response filter
 *    (CORS, gRPC-Web, a translation) wraps the sink it was given and passes its own on;
 *  - the info record (`RequestInfo`): what happened to the request (route, cluster, upstream host,
 *    attempts, error, ids, timings, bytes), filled in on the way and read by logs, metrics and
 *    traces. It is the same object through the whole chain, whatever the filters present.
 *
 * A filter is onion style (connect-es and undici interceptors): `(next) => handler`. A factory,
 * registered by the Envoy type URL of its typed config (filters/index.ts), parses the config once
 * when the listener is decoded (errors with field paths make the proxy NACK), optionally parses a
 * per-route override (`typed_per_filter_config`), and creates the filter. Chains are composed when
 * config is applied (runtime.ts): a request calls handlers that already exist and parses nothing.
 */
import type { Readable } from 'node:stream';
import type { DescMessage } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Context, Span } from '@opentelemetry/api';
import type { Extension } from '../../common/extensions.js';
import type { CompiledRoute } from '../routing/route-table.js';
import type { Problems } from '../xds/types/decoded.js';
import type { RouterTracing } from '../telemetry/tracing.js';
import type { CacheStores } from './cache/stores.js';
import type { JwksRegistry } from './jwt/jwks.js';
import type { RateLimitStores } from './ratelimit/stores.js';

export type ResponseHeaders = Record<string, string | string[] | number>;

/** The request as the next stage sees it. Never modified: a filter that changes it presents another. */
export interface RequestHead {
  readonly h2: boolean;
  readonly grpc: boolean;
  readonly method: string;
  /** Lowercase host[:port] from :authority, Host or an absolute-form target. */
  readonly authority: string;
  /** The normalized path (uri.ts) from the connection manager on. */
  readonly path: string;
  /** Query string including '?', or ''. */
  readonly search: string;
  /** HTTP/1.1 Upgrade requests: the Upgrade type, lowercase; undefined for every other request. */
  readonly upgrade: string | undefined;
  readonly remoteAddress: string;
  /** The peer's verified SPIFFE ID (mTLS on the inbound listener); undefined on plaintext. */
  readonly principal: string | undefined;
  /** The request came over TLS (its scheme is https). */
  readonly secure: boolean;
  readonly hasBody: boolean;
  readonly body: Readable;
  /** One header by lowercase name; `:method`, `:path`, `:authority` too. */
  header(name: string): string | undefined;
  /** Every request header as [name, value] pairs, names lowercase, without pseudo-headers. */
  rawPairs(): string[];
}

/** Where the response goes. */
export interface ResponseSink {
  readonly headersSent: boolean;
  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void;
  /** false: wait for onceDrain before writing more. */
  write(chunk: Buffer): boolean;
  onceDrain(fn: () => void): void;
  end(trailers: ResponseHeaders | undefined): void;
  /** A gRPC trailers-only response (status and grpc-status in one HEADERS frame). */
  respondTrailersOnly(headers: ResponseHeaders): void;
  /** A whole response with a small body. */
  respondSimple(status: number, headers: ResponseHeaders, body: string): void;
  /** Resets the stream / destroys the connection: the response cannot be completed. */
  abort(): void;
  /** Called once if the client goes away before the response ended. */
  onClientGone(fn: () => void): void;
  /** Ask the client to close this connection after the response (draining). */
  closeAfterResponse(): void;
}

/** What the request went through, for metrics, the access log, load reports and traces. */
export class RequestInfo {
  /** performance.now() when the request arrived. */
  readonly startMs = performance.now();
  /** The route the connection manager matched (undefined: none matched, or no routes yet). */
  route: CompiledRoute | undefined = undefined;
  /** Matched route's name ('' when none matched) and the cluster it went to ('' when none). */
  routeName = '';
  clusterName = '';
  /** Upstream attempts made (retries included) and the last host tried. */
  attempts = 0;
  upstreamHost = '';
  /** The x-weft-error code when the sidecar answered or cut the response; '' otherwise. */
  weftError = '';
  /**
   * The request came in through a gateway (edge) listener, from outside the mesh: what the client
   * says about itself in x-forwarded-proto is not trusted there.
   */
  edge = false;
  /** x-request-id sent upstream (kept or generated); '' before forwarding. */
  requestId = '';
  /** Trace id of the span the sidecar made for this request ('' when none). */
  traceId = '';
  /** Trace context of this request's SERVER span (inbound, when tracing is on). */
  traceCtx: Context | undefined = undefined;
  /** The inbound SERVER span, ended when the response is done. */
  serverSpan: Span | undefined = undefined;
  /** Response body bytes written, request body bytes read. */
  bytesSent = 0;
  bytesReceived = 0;
  /** What the HTTP cache did (HIT, MISS, STALE, REVALIDATED, BYPASS); '' when no cache ran. */
  cacheStatus = '';
  /**
   * The API consumer the request was authenticated as (a Consumer's name, by an API key or a JWT
   * subject mapped to it); '' when none. Read by rate limits, analytics, logs and traces.
   */
  consumer = '';
  /** That consumer's plan ('' when none or no consumer). */
  plan = '';
  /** The API key the request was authenticated with, as `<consumer>/<key id>` ('' when none: no key, or a JWT subject). */
  apiKey = '';
  /** The JWT the jwt_authn filter verified for this request, if any. */
  jwt: VerifiedJwt | undefined = undefined;
  /**
   * The request this one was made for, when it is a sub-request (an aggregation's call). It
   * carries its parent's consumer, plan and JWT: authentication and rate limits ran on the parent,
   * and the filters that do them let a sub-request through (a composed request is checked and
   * counted once, whatever the number of its calls). Only the proxy sets it; no client can.
   */
  parent: RequestInfo | undefined = undefined;
}

/** A verified JWT: who issued it, for whom, and its claims (read by later filters). */
export interface VerifiedJwt {
  /** The provider (JwtProvider name) that verified it. */
  readonly provider: string;
  readonly issuer: string;
  /** The `sub` claim ('' when absent). */
  readonly subject: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/**
 * A request presented to the next stage as it is: every part read from the real request. A
 * filter that changes one part (a counted body, a header left out) extends it and overrides that.
 */
export class RequestView implements RequestHead {
  constructor(protected readonly req: RequestHead) {}
  get h2(): boolean {
    return this.req.h2;
  }
  get grpc(): boolean {
    return this.req.grpc;
  }
  get method(): string {
    return this.req.method;
  }
  get authority(): string {
    return this.req.authority;
  }
  get path(): string {
    return this.req.path;
  }
  get search(): string {
    return this.req.search;
  }
  get upgrade(): string | undefined {
    return this.req.upgrade;
  }
  get remoteAddress(): string {
    return this.req.remoteAddress;
  }
  get principal(): string | undefined {
    return this.req.principal;
  }
  get secure(): boolean {
    return this.req.secure;
  }
  get hasBody(): boolean {
    return this.req.hasBody;
  }
  get body(): Readable {
    return this.req.body;
  }
  header(name: string): string | undefined {
    return this.req.header(name);
  }
  rawPairs(): string[] {
    return this.req.rawPairs();
  }
}

/**
 * A sink that passes everything to the one it wraps: response filters extend it and override what
 * they change (CORS adds headers to the head; a translation rewrites the whole answer).
 */
export class ForwardingSink implements ResponseSink {
  constructor(protected readonly res: ResponseSink) {}
  get headersSent(): boolean {
    return this.res.headersSent;
  }
  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    this.res.writeHead(status, headers, endStream);
  }
  write(chunk: Buffer): boolean {
    return this.res.write(chunk);
  }
  onceDrain(fn: () => void): void {
    this.res.onceDrain(fn);
  }
  end(trailers: ResponseHeaders | undefined): void {
    this.res.end(trailers);
  }
  respondTrailersOnly(headers: ResponseHeaders): void {
    this.res.respondTrailersOnly(headers);
  }
  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.res.respondSimple(status, headers, body);
  }
  abort(): void {
    this.res.abort();
  }
  onClientGone(fn: () => void): void {
    this.res.onClientGone(fn);
  }
  closeAfterResponse(): void {
    this.res.closeAfterResponse();
  }
}

export type Handler = (req: RequestHead, res: ResponseSink, info: RequestInfo) => void;
export type Filter = (next: Handler) => Handler;

/** Why a request was refused (an RBAC policy's decision), for the sidecar's log. */
export interface Denial {
  /** The DENY policy that matched. */
  readonly policy?: string;
  readonly reason: string;
}

/** What a filter may use of the listener it runs in, given when the chain is composed. */
export interface FilterContext {
  /** The listener's name (inbound / outbound / a gateway listener). */
  readonly listener: string;
  /** Told about every RBAC denial (the sidecar logs it, naming the rule). */
  readonly onDeny?: (req: RequestHead, decision: Denial) => void;
  readonly tracing?: RouterTracing;
  /** The proxy's cache stores (they outlive the chains; the cache filter takes its store here). */
  readonly caches?: CacheStores;
  /** The proxy's remote JWKS (they outlive the chains; jwt_authn takes its providers' key sets here). */
  readonly jwks?: JwksRegistry;
  /**
   * Sends a request of the filter's own (a sub-request, e.g. an aggregation's call) through this
   * listener as if a client had sent it: path normalization, the route table, the matched route's
   * chain, the router and its clusters. The listener's chain at the time of the call is used.
   */
  readonly dispatch?: (req: RequestHead & { path: string }, res: ResponseSink, info: RequestInfo) => void;
  /** The proxy's rate-limit state: Redis connections, local buckets, counters (they outlive the chains). */
  readonly rateLimits?: RateLimitStores;
}

/** The per-route half of a factory: `typed_per_filter_config` entries of this type. */
export interface PerRouteParser<R> {
  /** The message a route carries for this filter (inside a FilterConfig or not). */
  readonly schema: DescMessage;
  /** Parses and checks the override once, when the RouteConfiguration is decoded. */
  parse(any: Any, p: Problems, path: string): R | undefined;
}

/** What a filter would do with one request, for `weft explain` (sidecar/explain/explain.ts). */
export interface FilterVerdict {
  /**
   * allow / deny: the filter decides (authorization); requires: the request must bring something
   * (a JWT, an API key); limits: it counts the request against a limit; applies: it acts on the
   * request or its response.
   */
  readonly effect: 'allow' | 'deny' | 'requires' | 'limits' | 'applies';
  readonly detail: string;
  /** The answer the proxy gives this request here instead of passing it on (`403 RBAC_DENIED`), if it does. */
  readonly refuses?: string;
}

export interface HttpFilterFactory<C = unknown, R = unknown> {
  /** The filter's name and the type URL of its typed_config in http_filters. */
  readonly extension: Extension;
  /** Parses and checks the listener-level config once (problems: field path and reason -> NACK). */
  parse(any: Any, p: Problems, path: string): C | undefined;
  readonly perRoute?: PerRouteParser<R>;
  /**
   * The filter for this config (and the route's override, when composing a route's chain), or
   * undefined when it has nothing to do there: it is then left out of the chain entirely.
   */
  create(config: C, perRoute: R | undefined, ctx: FilterContext): Filter | undefined;
  /**
   * What the filter would do with this request (`weft explain`), from the same parsed config
   * `create` gets; undefined when `create` would leave it out of this route's chain. A factory
   * without it is shown as applying, with no per-request decision.
   */
  explain?(config: C, perRoute: R | undefined, req: RequestHead, route: CompiledRoute | undefined): FilterVerdict | undefined;
}

/** One entry of a listener's http_filters, parsed: what composing a chain needs. */
export interface FilterSpec {
  /** The http_filters entry's name: the key routes use in typed_per_filter_config. */
  readonly name: string;
  readonly factory: HttpFilterFactory;
  readonly config: unknown;
  /**
   * HttpFilter.disabled: off unless a route's typed_per_filter_config names it (and does not
   * disable it), as in Envoy.
   */
  readonly disabled?: boolean;
}

/**
 * The handler for `specs` in order, ending in `terminal`. `perRoute(name)` gives a route's
 * override for a filter (undefined: the listener's config applies).
 */
export function compose(specs: readonly FilterSpec[], terminal: Handler, ctx: FilterContext, perRoute?: (spec: FilterSpec) => unknown): Handler {
  let h = terminal;
  for (let i = specs.length - 1; i >= 0; i--) {
    const s = specs[i]!;
    const override = perRoute?.(s);
    if (override === DISABLED || (override === undefined && s.disabled)) continue;
    const f = s.factory.create(s.config, override, ctx);
    if (f) h = f(h);
  }
  return h;
}

/** A route's override that turns the filter off there (FilterConfig.disabled). */
export const DISABLED: unique symbol = Symbol('filter disabled for this route');
