/**
 * HTTP/1.1 Upgrade (WebSocket and other configured types), after the router has done for it what
 * it does for every request: path normalization, authorization, routing (weighted clusters,
 * rewrites, header edits). The request head goes to a host of the routed cluster on a fresh
 * connection; the upstream's answer decides:
 * - `101 Switching Protocols`: the 101 goes to the client and from then on bytes flow both ways
 *   untouched (the client's bytes that came after its request are sent first);
 * - anything else: an ordinary response, sent to the client, and the connection is closed. The
 *   bytes the client sent after its Upgrade request are dropped, never forwarded: until the
 *   upstream agreed to switch, they are not a tunnel and not a request anyone routed.
 */
import type net from 'node:net';
import { dial } from '../upstream/dial.js';
import type { Host } from '../upstream/host.js';
import { Outcome, type UpstreamCluster } from '../upstream/cluster.js';
import type { ForwardRoute } from '../routing/route-table.js';
import type { H1Downstream } from './h1-downstream.js';
import { editResponse, fromRaw, requestHeaders } from './headers.js';
import { respondError } from './respond.js';
import { hashKey } from '../routing/hash-policy.js';
import { upstreamPath } from '../routing/route-table.js';
import { errorCode } from './attempts.js';
import type { ErrorCode } from '../../common/errors.js';
import type { RequestInfo, ResponseHeaders } from './filter.js';
import { HTTPParser, K_BODY, K_COMPLETE, K_HEADERS, K_HEADERS_COMPLETE, newParser, type NativeParser } from './llhttp.js';

const BAD_VALUE = /[\r\n\0]/;
/** Headers of a 101 that belong to the switch itself and go to the client as they came. */
const SWITCH_HEADERS = new Set(['connection', 'upgrade']);

/** One Upgrade request forwarded to one host. */
export class UpgradeExchange {
  readonly #d: H1Downstream;
  readonly #info: RequestInfo;
  readonly #route: ForwardRoute;
  readonly #cluster: UpstreamCluster;
  #host: Host | undefined;
  #up: net.Socket | undefined;
  #parser: NativeParser | undefined;
  #raw: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** A response head reached the client (101 or another). */
  #committed = false;
  #tunnel = false;
  #done = false;

  constructor(d: H1Downstream, info: RequestInfo, route: ForwardRoute, cluster: UpstreamCluster) {
    this.#d = d;
    this.#info = info;
    this.#route = route;
    this.#cluster = cluster;
  }

  start(): void {
    const d = this.#d;
    const c = this.#cluster;
    if (c.http2) {
      respondError(d, d, this.#info, 'UPGRADE_NOT_ALLOWED', `cluster ${c.name} speaks HTTP/2 to its hosts; an Upgrade needs an HTTP/1.1 upstream`);
      return;
    }
    if (c.stats.rqActive >= c.limits.maxRequests) {
      c.stats.rqOverflow++;
      respondError(d, d, this.#info, 'CIRCUIT_OPEN', `cluster ${c.name}: max_requests (${c.limits.maxRequests}) reached`);
      return;
    }
    const { hash, setCookie } = this.#route.hash.length ? hashKey(d, this.#route.hash) : { hash: undefined, setCookie: undefined };
    const host = c.picker.pick({ hash });
    if (!host) {
      respondError(d, d, this.#info, 'NO_HEALTHY_UPSTREAM', `cluster ${c.name} has no healthy endpoint`);
      return;
    }
    this.#host = host;
    c.stats.rqTotal++;
    c.stats.rqActive++;
    c.stats.rqAttempts++;
    host.active++;
    host.rqTotal++;
    this.#info.attempts = 1;
    this.#info.upstreamHost = host.key;
    const flat = requestHeaders(d, this.#info, this.#route.hostRewrite ?? d.authority, this.#route.reqRemove, this.#route.reqAdd, false);
    let head = `${d.method} ${upstreamPath(d, this.#route)} HTTP/1.1\r\n`;
    for (let i = 0; i < flat.length; i += 2) {
      if (BAD_VALUE.test(flat[i]!) || BAD_VALUE.test(flat[i + 1]!)) return this.#fail('BAD_REQUEST', `invalid character in header ${JSON.stringify(flat[i])}`);
      head += `${flat[i]}: ${flat[i + 1]}\r\n`;
    }
    head += `connection: upgrade\r\nupgrade: ${d.header('upgrade') ?? ''}\r\n\r\n`;
    const { socket: up, ready } = dial(host, c.tls, 'http/1.1');
    this.#up = up;
    up.on('error', (e: NodeJS.ErrnoException) => this.#upstreamFailed(e));
    up.on('close', () => {
      // The parser is freed here, outside its own callbacks.
      this.#parser?.free();
      this.#parser = undefined;
      this.#upstreamFailed(undefined);
    });
    up.once(ready, () => {
      if (this.#done) return;
      up.write(head, 'latin1');
    });
    const p = (this.#parser = newParser(HTTPParser.RESPONSE));
    p[K_HEADERS] = (raw: string[]) => {
      for (let i = 0; i < raw.length; i++) this.#raw.push(raw[i]!);
    };
    p[K_HEADERS_COMPLETE] = (_maj: number, _min: number, raw: string[] | undefined, _m: unknown, _u: unknown, status: number) => this.#onHead(raw, status, setCookie);
    p[K_BODY] = (chunk: Buffer) => {
      if (!this.#done && !d.write(chunk)) {
        up.pause();
        d.onceDrain(() => up.resume());
      }
    };
    p[K_COMPLETE] = () => this.#onComplete();
    up.on('data', (data: Buffer) => this.#onData(data));
    up.on('end', () => {
      // A close-delimited response body ends here.
      if (this.#committed && !this.#tunnel) this.#parser?.finish();
    });
    d.onClientGone(() => this.#finish());
    // The route timeout runs until the upstream's answer starts (Envoy does not time out a tunnel).
    const t = this.#route.timeoutMs;
    if (t > 0) this.#timer = setTimeout(() => this.#fail('UPSTREAM_TIMEOUT', `no answer to the Upgrade from ${host.key} within the route timeout`), t);
  }

  #onData(data: Buffer): void {
    if (this.#done) return;
    const p = this.#parser!;
    let r: ReturnType<NativeParser['execute']>;
    try {
      r = p.execute(data);
    } catch (e) {
      this.#fail('INTERNAL', `internal error while reading the Upgrade answer (${(e as Error).message})`);
      return;
    }
    if (this.#done || this.#tunnel) {
      if (this.#tunnel && typeof r === 'number') this.#switch(data.subarray(r));
      return;
    }
    if (typeof r !== 'number') this.#fail('UPSTREAM_PROTOCOL', `${this.#host!.key} answered the Upgrade with something that is not HTTP/1.1 (${r.code ?? r.message})`);
  }

  #onHead(raw: string[] | undefined, status: number, setCookie: string | undefined): number {
    if (this.#done) return 1;
    if (raw === undefined) {
      raw = this.#raw;
      this.#raw = [];
    }
    if (status < 200 && status !== 101) {
      this.#raw = [];
      return 0; // 100 Continue, 103 Early Hints: the real answer follows
    }
    clearTimeout(this.#timer);
    const c = this.#cluster;
    c.report(this.#host!, status === 502 || status === 503 || status === 504 ? Outcome.GatewayError : status >= 500 ? Outcome.ServerError : Outcome.Success);
    c.stats.rqByClass[Math.min(5, Math.floor(status / 100))]!++;
    this.#committed = true;
    const d = this.#d;
    if (status === 101) {
      // The switch: the 101 goes to the client now; the tunnel starts once the parser has
      // handed over the bytes after the head (#onData).
      this.#tunnel = true;
      let head = 'HTTP/1.1 101 Switching Protocols\r\n';
      const h: ResponseHeaders = fromRaw(raw);
      delete h['content-length'];
      editResponse(h, this.#route.resRemove, this.#route.resAdd);
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i]!.toLowerCase();
        if (SWITCH_HEADERS.has(n)) head += `${n}: ${raw[i + 1]!}\r\n`;
      }
      for (const n in h) {
        const v = h[n]!;
        for (const x of Array.isArray(v) ? v : [String(v)]) if (!BAD_VALUE.test(x)) head += `${n}: ${x}\r\n`;
      }
      this.#switchHead = `${head}\r\n`;
      return 1; // no body: what follows is the other protocol
    }
    // Not switching: an ordinary answer, and the connection closes after it.
    const h = fromRaw(raw);
    editResponse(h, this.#route.resRemove, this.#route.resAdd);
    if (setCookie) h['set-cookie'] = setCookie;
    d.closeAfterResponse();
    d.writeHead(status, h, false);
    return 0;
  }

  #switchHead = '';

  /** 101: the downstream socket becomes a tunnel to the upstream one. */
  #switch(upstreamRest: Buffer): void {
    const d = this.#d;
    const up = this.#up!;
    this.#parser?.free();
    this.#parser = undefined;
    const t = d.conn.tunnel(d);
    if (!t) {
      // The client is gone or the connection was closed under us.
      this.#finish();
      return;
    }
    const down = t.socket;
    up.removeAllListeners('data');
    up.removeAllListeners('end');
    down.write(this.#switchHead, 'latin1');
    if (upstreamRest.length) down.write(upstreamRest);
    if (t.head.length) up.write(t.head);
    down.on('error', () => up.destroy());
    down.on('close', () => {
      up.destroy();
      this.#tunnelEnded();
    });
    up.on('close', () => down.destroy());
    down.pipe(up);
    up.pipe(down);
    down.resume();
  }

  #tunnelEnded(): void {
    if (this.#done) return;
    this.#release();
    this.#d.conn.tunnelClosed(this.#d);
  }

  #onComplete(): void {
    if (this.#done || this.#tunnel) return;
    this.#d.end(undefined);
    this.#finish();
  }

  #upstreamFailed(e: NodeJS.ErrnoException | undefined): void {
    if (this.#done || this.#tunnel) return;
    const host = this.#host!;
    if (!this.#committed) {
      this.#cluster.report(host, Outcome.GatewayError);
      if (e && (!this.#up || this.#up.connecting || e.code === 'ECONNREFUSED')) {
        host.cxConnectFail++;
        this.#fail('UPSTREAM_CONNECT_FAILURE', `cluster ${this.#cluster.name}: could not connect to ${host.key} (${errorCode(e) ?? 'error'})`);
      } else this.#fail('UPSTREAM_RESET', `cluster ${this.#cluster.name}: ${host.key} closed the connection before answering the Upgrade`);
      return;
    }
    // Mid-answer: cut the client short.
    this.#info.weftError = 'UPSTREAM_RESET';
    this.#d.abort();
    this.#finish();
  }

  #fail(code: ErrorCode, message: string): void {
    if (this.#done) return;
    this.#cluster.stats.rqByClass[5]!++;
    respondError(this.#d, this.#d, this.#info, code, message);
    this.#finish();
  }

  #release(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    const host = this.#host;
    if (host) {
      host.active--;
      this.#cluster.stats.rqActive--;
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#release();
    this.#up?.destroy();
  }
}
