/**
 * Access logs: one pino JSON line per (sampled) request, written by an asynchronous SonicBoom
 * destination, so the request path only formats the line into a buffer and never waits on a write.
 *
 * Sampling: `sampling` (0..1) of the requests that succeeded are logged; failed ones (no response,
 * 5xx, a gRPC server error, or any sidecar error code) always are, so `--access-log-sampling 0`
 * logs failures only. Fields are documented in docs/observability.md.
 */
import { pino, type Logger } from 'pino';
import type { Downstream } from '../http/downstream.js';
import { isFailure } from './request-stats.js';
import { spanContextOf } from './tracing.js';
import type { LimitEvent } from '../listeners/http-listener.js';
import type { TcpConnectionRecord } from './tcp-stats.js';

export interface AccessLogOptions {
  /** 'stdout', 'stderr' or a file path (appended to). */
  destination: string;
  /** Fraction of successful requests logged, 0..1 (failures are always logged). */
  sampling: number;
  node: string;
}

export class AccessLog {
  readonly #log: Logger;
  readonly #dest: ReturnType<typeof pino.destination>;
  readonly #sampling: number;
  /** Lines written and requests skipped by sampling (exposed as metrics). */
  written = 0;
  sampledOut = 0;

  constructor(o: AccessLogOptions) {
    if (!(o.sampling >= 0 && o.sampling <= 1)) throw new Error(`access log sampling must be between 0 and 1, got ${o.sampling}`);
    const dest = o.destination === 'stdout' ? 1 : o.destination === 'stderr' ? 2 : o.destination;
    this.#dest = pino.destination({ dest, sync: false, mkdir: typeof dest === 'string', minLength: 0 });
    this.#log = pino(
      {
        base: { node: o.node },
        messageKey: 'msg',
        timestamp: pino.stdTimeFunctions.isoTime,
        // In place of pino's level: a constant that tells access lines from other logs.
        formatters: { level: () => ({ log: 'access' }) },
      },
      this.#dest,
    );
    this.#sampling = o.sampling;
  }

  /** Called once per finished request. */
  log(d: Downstream, direction: string, status: number, grpcStatus: number, durationMs: number): void {
    const failed = isFailure(status, grpcStatus) || d.info.weftError !== '';
    if (!failed && (this.#sampling === 0 || (this.#sampling < 1 && Math.random() >= this.#sampling))) {
      this.sampledOut++;
      return;
    }
    this.written++;
    let traceId = d.info.traceId;
    if (!traceId && d.info.traceCtx) traceId = spanContextOf(d.info.traceCtx)?.traceId ?? '';
    if (!traceId) {
      const tp = d.header('traceparent');
      if (tp && tp.length >= 55) traceId = tp.slice(3, 35);
    }
    this.#log.info({
      direction,
      request_id: d.info.requestId || d.header('x-request-id') || '',
      trace_id: traceId,
      method: d.method,
      authority: d.authority,
      path: d.path,
      protocol: d.h2 ? 'HTTP/2' : 'HTTP/1.1',
      status,
      ...(grpcStatus >= 0 ? { grpc_status: grpcStatus } : {}),
      duration_ms: Math.round(durationMs * 1000) / 1000,
      route: d.info.routeName,
      cluster: d.info.clusterName,
      upstream_host: d.info.upstreamHost,
      attempts: d.info.attempts,
      bytes_received: d.info.bytesReceived,
      bytes_sent: d.info.bytesSent,
      weft_error: d.info.weftError,
      ...(d.info.cacheStatus ? { cache: d.info.cacheStatus } : {}),
      ...(d.info.consumer ? { consumer: d.info.consumer } : {}),
      peer: d.principal ?? d.remoteAddress,
    });
  }

  /**
   * A limit that refused or closed a connection outside any request (a head too large or too
   * slow, past max connections, idle too long): one line, always written (a failure).
   */
  logLimit(e: LimitEvent): void {
    this.written++;
    this.#log.info({ direction: 'gateway', listener: e.listener, event: 'limit', limit: e.limit, status: e.code === 'HEADERS_TOO_LARGE' ? 431 : e.code === 'HEADERS_TIMEOUT' ? 408 : 0, weft_error: e.code, peer: e.remoteAddress });
  }

  /**
   * One line per TCP connection when it ends (layer 4: no method, path or status). Connections
   * that ended with a flag (refused, denied, failed to connect, timed out) are always written;
   * the others are sampled like successful requests.
   */
  logConnection(r: TcpConnectionRecord): void {
    if (!r.flags && (this.#sampling === 0 || (this.#sampling < 1 && Math.random() >= this.#sampling))) {
      this.sampledOut++;
      return;
    }
    this.written++;
    this.#log.info({
      direction: r.direction,
      protocol: 'TCP',
      listener: r.listener,
      peer: r.principal ?? r.downstream,
      downstream: r.downstream,
      ...(r.serverName ? { server_name: r.serverName } : {}),
      cluster: r.cluster,
      upstream_host: r.upstreamHost,
      attempts: r.connectAttempts,
      bytes_received: r.bytesReceived,
      bytes_sent: r.bytesSent,
      duration_ms: Math.round(r.durationMs * 1000) / 1000,
      flags: r.flags,
      ...(r.rbac ? { rbac: r.rbac } : {}),
    });
  }

  /** Writes out what is buffered (on drain/exit). */
  flush(): Promise<void> {
    return new Promise((resolve) => this.#dest.flush(() => resolve()));
  }
}
