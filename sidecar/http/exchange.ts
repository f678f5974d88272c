/**
 * Forwards one request to a cluster: picks a host, enforces circuit breakers, sends the request
 * over the host's pool (our HTTP/1.1 pool on Node's native parser, an h2 session for h2/gRPC), and streams the
 * response back with backpressure and trailers. Owns the attempt loop: retries by the route's
 * policy (status, gRPC status, reset, connect failure, refused stream, per-try timeout) with
 * jittered exponential backoff and body replay, the route timeout or grpc-timeout deadline,
 * and reports each outcome to outlier detection. Failures it answers itself go through
 * respondError (x-weft-error).
 */
import type { ErrorCode } from '../../common/errors.js';
import type { ForwardRoute } from '../routing/route-table.js';
import { RETRY, upstreamPath } from '../routing/route-table.js';
import { hashKey } from '../routing/hash-policy.js';
import type { Host } from '../upstream/host.js';
import { Outcome, type UpstreamCluster } from '../upstream/cluster.js';
import { ReplayableBody } from './body.js';
import type { RequestHead, RequestInfo, ResponseHeaders, ResponseSink } from './filter.js';
import { editResponse, fromRaw, requestHeaders } from './headers.js';
import { H1Downstream } from './h1-downstream.js';
import { errorCode, Failure, H1Attempt, H2Attempt, type Attempt, type AttemptSink } from './attempts.js';
import { respondError } from './respond.js';
import type { RouterTracing } from '../telemetry/tracing.js';
import { ClientSpans } from '../telemetry/client-spans.js';

const FAILURE_NAME = ['connect_failure', 'refused_stream', 'reset', 'per_try_timeout', 'protocol_error'] as const;

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);
const GRPC_RETRY: Record<string, number> = { '1': RETRY.cancelled, '4': RETRY['deadline-exceeded'], '8': RETRY['resource-exhausted'], '13': RETRY.internal, '14': RETRY.unavailable };

/** grpc-timeout ("100m", "5S") in milliseconds, or undefined if absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (!v) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H':
      return n * 3_600_000;
    case 'M':
      return n * 60_000;
    case 'S':
      return n * 1000;
    case 'm':
      return n;
    case 'u':
      return Math.ceil(n / 1000);
    default:
      return Math.ceil(n / 1_000_000);
  }
}

/** Counters the listener exposes on /stats/prometheus. */
export interface ForwardStats {
  rqRetry: number;
}

export class Exchange implements AttemptSink {
  readonly #d: RequestHead;
  readonly #res: ResponseSink;
  readonly #info: RequestInfo;
  readonly #route: ForwardRoute;
  readonly #cluster: UpstreamCluster;
  readonly #path: string;
  readonly #headers: string[];
  readonly #hash: number | undefined;
  readonly #body: ReplayableBody | undefined;
  readonly #idempotent: boolean;
  #attempt: Attempt | undefined;
  #attempts = 0;
  #retrying = false;
  #committed = false;
  #done = false;
  #routeTimer: NodeJS.Timeout | undefined;
  #tryTimer: NodeJS.Timeout | undefined;
  #setCookie: string | undefined;
  #lastHost: Host | undefined;
  #counted = false;
  /** Outbound, sampled: a CLIENT span per attempt, child of what the app sent. */
  #spans: ClientSpans | undefined;
  /**
   * The HTTP/1.1 client an HTTP/1.1 upstream's header lines can be written to as received:
   * the request's own response (no filter wrapped it), with no response header edits, no
   * stickiness cookie, and no retry policy that reads grpc-status. Undefined otherwise.
   */
  readonly #rawHead: H1Downstream | undefined;

  /** The request body as this exchange reads it (mirrors follow it); undefined when there is none. */
  get body(): ReplayableBody | undefined {
    return this.#body;
  }

  constructor(d: RequestHead, res: ResponseSink, info: RequestInfo, route: ForwardRoute, cluster: UpstreamCluster, lt?: RouterTracing) {
    this.#d = d;
    this.#res = res;
    this.#info = info;
    this.#route = route;
    this.#cluster = cluster;
    this.#idempotent = IDEMPOTENT.has(d.method);
    this.#path = upstreamPath(d, route);
    this.#headers = requestHeaders(d, info, route.hostRewrite ?? d.authority, route.reqRemove, route.reqAdd, d.h2 || d.grpc);
    if (route.hash.length) {
      const k = hashKey(d, route.hash);
      this.#hash = k.hash;
      this.#setCookie = k.setCookie;
    } else this.#hash = undefined;
    this.#body = d.hasBody ? new ReplayableBody(d.body) : undefined;
    this.#rawHead = d instanceof H1Downstream && res === d && route.resAdd.length === 0 && route.resRemove.length === 0 && this.#setCookie === undefined && !(route.retry && d.grpc) ? d : undefined;
    // Inbound: the SERVER span's context (if the listener made one) goes to the app. Outbound: one
    // CLIENT span per attempt when the request is sampled; unsampled, headers pass as they came.
    if (lt) {
      if (lt.listener === 'inbound') {
        if (info.traceCtx) this.#headers = lt.t.inject('inbound', info.traceCtx, this.#headers);
      } else if (lt.listener === 'gateway') {
        if (info.traceCtx) this.#spans = new ClientSpans(lt.t, 'gateway', info.traceCtx);
      } else if (lt.t.sampled('outbound', d, info.requestId)) this.#spans = new ClientSpans(lt.t, 'outbound', lt.t.extract('outbound', (n) => d.header(n)));
    }
  }

  start(): void {
    const c = this.#cluster;
    if (c.stats.rqActive >= c.limits.maxRequests) {
      c.stats.rqOverflow++;
      this.#fail('CIRCUIT_OPEN', `cluster ${c.name}: max_requests (${c.limits.maxRequests}) reached`);
      return;
    }
    c.stats.rqTotal++;
    c.stats.rqActive++;
    this.#counted = true;
    let timeout = this.#route.timeoutMs;
    if (this.#route.grpcTimeoutMaxMs !== undefined) {
      const g = parseGrpcTimeout(this.#d.header('grpc-timeout'));
      if (g !== undefined) timeout = this.#route.grpcTimeoutMaxMs > 0 ? Math.min(g, this.#route.grpcTimeoutMaxMs) : g;
    }
    if (timeout > 0) this.#routeTimer = setTimeout(() => this.#onRouteTimeout(), timeout);
    this.#res.onClientGone(() => this.#onClientGone());
    this.#send();
  }

  #pick(): Host | undefined {
    const ctx = { hash: this.#hash };
    let h = this.#cluster.picker.pick(ctx);
    // Prefer another host than the one that just failed (Envoy's previous_hosts predicate).
    for (let i = 0; i < 2 && h && h === this.#lastHost && this.#cluster.hosts.length > 1 && this.#hash === undefined; i++) h = this.#cluster.picker.pick(ctx);
    return h;
  }

  #send(): void {
    if (this.#done) return;
    const c = this.#cluster;
    const host = this.#pick();
    if (!host) {
      this.#fail('NO_HEALTHY_UPSTREAM', `cluster ${c.name} has no healthy endpoint`);
      return;
    }
    if (c.pendingOn(host) >= c.limits.maxPending) {
      c.stats.rqOverflow++;
      this.#fail('CIRCUIT_OPEN', `cluster ${c.name}: max_pending_requests (${c.limits.maxPending}) reached`);
      return;
    }
    this.#attempts++;
    c.stats.rqAttempts++;
    host.active++;
    host.rqTotal++;
    this.#lastHost = host;
    this.#info.attempts = this.#attempts;
    this.#info.upstreamHost = host.key;
    const headers = this.#spans ? this.#spans.start(this.#d, this.#info, this.#path, this.#cluster, host, this.#attempts, this.#headers) : this.#headers;
    this.#attempt = c.http2 ? new H2Attempt(this, host, c, this.#path, headers, this.#d.method, this.#body) : new H1Attempt(this, host, c, this.#path, headers, this.#d.method, this.#body);
    const perTry = this.#route.retry?.perTryTimeoutMs ?? 0;
    if (perTry > 0) {
      const a = this.#attempt;
      this.#tryTimer = setTimeout(() => this.onFailure(a, Failure.Timeout, undefined), perTry);
    }
  }

  #endAttempt(a: Attempt): void {
    if (this.#attempt !== a) return;
    this.#attempt = undefined;
    this.#spans?.end('aborted');
    a.host.active--;
    clearTimeout(this.#tryTimer);
    if (this.#retrying) {
      this.#retrying = false;
      this.#cluster.retriesActive--;
    }
  }

  /** Tries again if the policy, the budget and the body allow; false if not. */
  #retry(reason: number, safe: boolean): boolean {
    const r = this.#route.retry;
    const max = 1 + (r?.numRetries ?? 0);
    // Requests that never reached a host get one transparent retry even without a policy.
    const allowed = (r !== undefined && (r.on & reason) !== 0) || (safe && this.#attempts < 2);
    if (!allowed || this.#attempts >= Math.max(max, safe ? 2 : 1)) return false;
    if (this.#body && !this.#body.replayable) return false;
    const c = this.#cluster;
    if (!c.retryAllowed()) {
      c.stats.rqRetryOverflow++;
      return false;
    }
    c.stats.rqRetry++;
    c.retriesActive++;
    this.#retrying = true;
    const base = r?.baseMs ?? 25;
    const delay = safe && !r ? 0 : Math.random() * Math.min(r?.maxMs ?? 250, base * 2 ** (this.#attempts - 1));
    if (delay < 1) this.#send();
    else setTimeout(() => this.#send(), delay);
    // The retry slot is held until the new attempt ends.
    return true;
  }

  // --- callbacks from attempts -------------------------------------------------------------

  /**
   * Whether a response head from attempt `a` is taken (the response is committed to it): false
   * when the attempt was given up, or dropped here for a retry by the route's policy (status,
   * or `grpcStatus` for a gRPC request). Counts and reports the answer.
   */
  #take(a: Attempt, status: number, grpcStatus: ResponseHeaders[string] | undefined): boolean {
    if (this.#attempt !== a || this.#done) return false;
    this.#spans?.status(status);
    const r = this.#route.retry;
    this.#cluster.report(a.host, status === 502 || status === 503 || status === 504 ? Outcome.GatewayError : status >= 500 ? Outcome.ServerError : Outcome.Success);
    if (r && !this.#committed) {
      let reason = 0;
      if (status >= 500 && r.on & RETRY['5xx']) reason = RETRY['5xx'];
      else if ((status === 502 || status === 503 || status === 504) && r.on & RETRY['gateway-error']) reason = RETRY['gateway-error'];
      else if (status === 409 && r.on & RETRY['retriable-4xx']) reason = RETRY['retriable-4xx'];
      else if (r.codes.has(status) && r.on & RETRY['retriable-status-codes']) reason = RETRY['retriable-status-codes'];
      else if (this.#d.grpc) {
        const bit = grpcStatus === undefined ? 0 : (GRPC_RETRY[String(grpcStatus)] ?? 0);
        if (bit & r.on) reason = bit;
      }
      if (reason && this.#retryAfterResponse(a, reason)) return false;
    }
    this.#committed = true;
    clearTimeout(this.#tryTimer);
    if (status >= 500) a.host.rqError++;
    this.#cluster.stats.rqByClass[Math.min(5, Math.floor(status / 100))]!++;
    return true;
  }

  /** Response head from the upstream. Returns false when the attempt was dropped for a retry. */
  onHead(a: Attempt, status: number, headers: ResponseHeaders, endStream: boolean): boolean {
    if (!this.#take(a, status, headers['grpc-status'])) return false;
    editResponse(headers, this.#route.resRemove, this.#route.resAdd);
    if (this.#setCookie) headers['set-cookie'] = this.#setCookie;
    if (endStream && this.#d.grpc && this.#d.h2) {
      headers[':status'] = status;
      this.#res.respondTrailersOnly(headers);
    } else this.#res.writeHead(status, headers, endStream);
    if (endStream) this.#finish(a);
    return true;
  }

  /**
   * An HTTP/1.1 upstream's response head as received. When nothing reads or edits the response's
   * headers on the way (see #rawHead), its lines go to the HTTP/1.1 client as they are; otherwise
   * they become the header object onHead works on.
   */
  onRawHead(a: Attempt, status: number, raw: string[]): void {
    const d = this.#rawHead;
    if (d === undefined) this.onHead(a, status, fromRaw(raw), false);
    else if (this.#take(a, status, undefined)) d.writeHeadRaw(status, raw);
  }

  #retryAfterResponse(a: Attempt, reason: number): boolean {
    // The current attempt is given up; the next one starts once its slot is free.
    const body = this.#body;
    if (body && !body.replayable) return false;
    const r = this.#route.retry!;
    if (this.#attempts >= 1 + r.numRetries) return false;
    if (!this.#cluster.retryAllowed()) {
      this.#cluster.stats.rqRetryOverflow++;
      return false;
    }
    a.abort();
    this.#endAttempt(a);
    return this.#retry(reason, false);
  }

  onReadEnd(a: Attempt): void {
    if (this.#attempt === a) this.#rawHead?.flush();
  }

  onData(a: Attempt, chunk: Buffer): boolean {
    if (this.#attempt !== a) return false;
    if (this.#res.write(chunk)) return true;
    this.#res.onceDrain(() => a.resume());
    return false;
  }

  onEnd(a: Attempt, trailers: ResponseHeaders | undefined): void {
    if (this.#attempt !== a) return;
    this.#res.end(trailers);
    this.#finish(a);
  }

  onFailure(a: Attempt, kind: Failure, err: unknown): void {
    if (this.#attempt !== a || this.#done) return;
    this.#spans?.error(FAILURE_NAME[kind]);
    a.abort();
    this.#endAttempt(a);
    const c = this.#cluster;
    this.#cluster.report(a.host, Outcome.GatewayError);
    if (this.#committed) {
      // Mid-response: nothing to retry; cut the downstream short.
      this.#info.weftError = 'UPSTREAM_RESET';
      this.#res.abort();
      this.#finish(undefined);
      return;
    }
    const idem = this.#idempotent || (this.#route.retry !== undefined && (this.#route.retry.on & RETRY['non-idempotent']) !== 0);
    switch (kind) {
      case Failure.Connect:
        a.host.cxConnectFail++;
        if (this.#retry(RETRY['connect-failure'] | RETRY['5xx'] | RETRY['gateway-error'], true)) return;
        this.#fail('UPSTREAM_CONNECT_FAILURE', `cluster ${c.name}: could not connect to ${a.host.key} (${errorCode(err) ?? 'error'})`);
        return;
      case Failure.Refused:
        if (this.#retry(RETRY['refused-stream'] | RETRY.reset | RETRY['5xx'], true)) return;
        this.#fail('UPSTREAM_RESET', `cluster ${c.name}: ${a.host.key} refused the stream`);
        return;
      case Failure.Timeout:
        c.stats.rqTimeout++;
        if (idem && this.#retry(RETRY['5xx'] | RETRY['gateway-error'] | RETRY.reset, false)) return;
        this.#fail('UPSTREAM_TIMEOUT', `cluster ${c.name}: ${a.host.key} did not answer within the per-try timeout`);
        return;
      case Failure.Protocol:
        this.#fail('UPSTREAM_PROTOCOL', `cluster ${c.name}: ${a.host.key}: ${(err as Error | undefined)?.message ?? 'protocol error'}`);
        return;
      default:
        if (idem && this.#retry(RETRY.reset | RETRY['5xx'] | RETRY['gateway-error'], false)) return;
        this.#fail('UPSTREAM_RESET', `cluster ${c.name}: ${a.host.key} closed the connection (${errorCode(err) ?? 'reset'})`);
    }
  }

  #onRouteTimeout(): void {
    if (this.#done) return;
    this.#cluster.stats.rqTimeout++;
    const a = this.#attempt;
    if (a) {
      a.abort();
      this.#endAttempt(a);
    }
    if (this.#committed) {
      this.#info.weftError = 'UPSTREAM_TIMEOUT';
      this.#res.abort();
      this.#finish(undefined);
    } else this.#fail('UPSTREAM_TIMEOUT', `no response from cluster ${this.#cluster.name} within the route timeout`);
  }

  #onClientGone(): void {
    if (this.#done) return;
    const a = this.#attempt;
    if (a) {
      a.abort();
      this.#endAttempt(a);
    }
    this.#finish(undefined);
  }

  #fail(code: ErrorCode, message: string): void {
    this.#cluster.stats.rqByClass[5]!++;
    respondError(this.#d, this.#res, this.#info, code, message);
    this.#finish(undefined);
  }

  #finish(a: Attempt | undefined): void {
    if (a) this.#endAttempt(a);
    this.#spans?.end('aborted');
    if (this.#done) return;
    this.#done = true;
    if (this.#body) this.#info.bytesReceived = this.#body.bytes;
    if (this.#retrying) {
      this.#retrying = false;
      this.#cluster.retriesActive--;
    }
    clearTimeout(this.#routeTimer);
    clearTimeout(this.#tryTimer);
    if (this.#counted) this.#cluster.stats.rqActive--;
  }
}
