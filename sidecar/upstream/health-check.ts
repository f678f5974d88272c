/**
 * Active health checks: each host is probed every `interval` (with jitter) on its own short-lived
 * connection, by a GET (http_health_check) or by connecting (tcp_health_check: the TCP connect,
 * and for a mesh host the mTLS handshake, which its sidecar completes only once it reached the
 * app); `unhealthy_threshold` failures in a row mark it unhealthy and `healthy_threshold`
 * successes bring it back. Health changes rebuild the cluster's picker.
 */
import { durationMs } from '../xds/types/decoded.js';
import http from 'node:http';
import net from 'node:net';
import type { HealthCheck } from '../../proto/gen/envoy/config/core/v3/health_check_pb.js';
import type { Host } from './host.js';

type Duration = { seconds: bigint; nanos: number } | undefined;
const ms = (d: Duration, dflt: number): number => durationMs(d, dflt);

interface HostState {
  timer: NodeJS.Timeout | undefined;
  fails: number;
  oks: number;
}

export class HealthChecker {
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  readonly #unhealthy: number;
  readonly #healthy: number;
  readonly #path: string;
  readonly #host: string;
  readonly #expected: Array<[number, number]>;
  readonly #tcp: boolean;
  readonly #state = new Map<Host, HostState>();
  #closed = false;
  checks = 0;

  constructor(
    hc: HealthCheck,
    authority: string,
    private readonly onChange: () => void,
    /** How to reach a host (mTLS for mesh hosts) and the event that says it is connected; plain TCP when absent. */
    private readonly dialer?: (h: Host) => { socket: import('node:net').Socket; ready: 'connect' | 'secureConnect' },
  ) {
    this.#tcp = hc.healthChecker.case === 'tcpHealthCheck';
    this.#intervalMs = ms(hc.interval, 5000);
    this.#timeoutMs = ms(hc.timeout, 1000);
    this.#unhealthy = hc.unhealthyThreshold ?? 2;
    this.#healthy = hc.healthyThreshold ?? 1;
    const h = hc.healthChecker.case === 'httpHealthCheck' ? hc.healthChecker.value : undefined;
    this.#path = h?.path || '/';
    this.#host = h?.host || authority;
    this.#expected = h?.expectedStatuses.length ? h.expectedStatuses.map((r) => [Number(r.start), Number(r.end)]) : [[200, 201]];
  }

  /** Starts checking new hosts and stops checking removed ones. */
  setHosts(hosts: readonly Host[]): void {
    const keep = new Set(hosts);
    for (const [h, s] of this.#state) {
      if (!keep.has(h)) {
        clearTimeout(s.timer);
        this.#state.delete(h);
      }
    }
    for (const h of hosts) {
      if (this.#state.has(h)) continue;
      const s: HostState = { timer: undefined, fails: 0, oks: 0 };
      this.#state.set(h, s);
      this.#schedule(h, s, Math.random() * Math.min(this.#intervalMs, 1000));
    }
  }

  #schedule(h: Host, s: HostState, delay: number): void {
    if (this.#closed) return;
    s.timer = setTimeout(() => this.#probe(h, s), delay);
    s.timer.unref();
  }

  #probe(h: Host, s: HostState): void {
    this.checks++;
    let done = false;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      if (this.#state.get(h) !== s) return;
      if (ok) {
        s.fails = 0;
        s.oks++;
        if (h.hcFailed && s.oks >= this.#healthy) {
          h.hcFailed = false;
          this.onChange();
        }
      } else {
        s.oks = 0;
        s.fails++;
        if (!h.hcFailed && s.fails >= this.#unhealthy) {
          h.hcFailed = true;
          this.onChange();
        }
      }
      // Envoy adds up to 10% jitter to each interval.
      this.#schedule(h, s, this.#intervalMs * (1 + Math.random() * 0.1));
    };
    if (this.#tcp) return this.#connectProbe(h, finish);
    const req = http.get({ host: h.address, port: h.port, path: this.#path, headers: { host: this.#host, 'user-agent': 'weft-health-check', connection: 'close' }, agent: false, timeout: this.#timeoutMs, ...(this.dialer ? { createConnection: () => this.dialer!(h).socket } : {}) }, (res) => {
      const code = res.statusCode ?? 0;
      res.resume();
      finish(this.#expected.some(([a, b]) => code >= a && code < b));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => finish(false));
  }

  /** tcp_health_check: healthy when the connection (and its TLS handshake) completes in time. */
  #connectProbe(h: Host, finish: (ok: boolean) => void): void {
    const { socket, ready } = this.dialer ? this.dialer(h) : { socket: net.connect({ host: h.address, port: h.port }), ready: 'connect' as const };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(false);
    }, this.#timeoutMs);
    timer.unref();
    socket.once(ready, () => {
      clearTimeout(timer);
      // A graceful close: destroying right after a TLS 1.3 handshake races the server's session
      // tickets and shows on the peer as a failed handshake.
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
      finish(true);
    });
    socket.on('error', () => {
      clearTimeout(timer);
      finish(false);
    });
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#state.values()) clearTimeout(s.timer);
    this.#state.clear();
  }
}
