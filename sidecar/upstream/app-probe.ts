/**
 * Is the sidecar's app listening? A TCP connect to 127.0.0.1:<app port> every few seconds (bounded
 * by a timeout, closed at once). A sidecar whose app is not up serves its peers only errors, so
 * `/ready` reports it (sidecar/admin/server.ts) and the log says so once, then again only when
 * the answer changes. An app seen up counts as down after `failureThreshold` failures in a row.
 */
import net from 'node:net';
import type { Logger } from '../../common/log.js';

export interface AppProbeOptions {
  host: string;
  port: number;
  /** Between probes (default 2 s). */
  everyMs?: number;
  /** A connect that takes longer counts as down (default 1 s). */
  timeoutMs?: number;
  /**
   * Failed probes in a row that turn an app seen up into down (default 3): one refused connect
   * under a burst of load is not an app gone. Before the app was first seen up, one is enough.
   */
  failureThreshold?: number;
  logger: Logger;
}

/** The last probe's answer: `up` undefined until the first one is in. */
export interface AppState {
  up: boolean | undefined;
  /** Why it is down, one phrase (empty while up). */
  reason: string;
}

const WHY: Record<string, string> = { ECONNREFUSED: 'connection refused', ETIMEDOUT: 'connect timed out', EHOSTUNREACH: 'host unreachable', ECONNRESET: 'connection reset' };

export class AppProbe {
  readonly #o: Required<AppProbeOptions>;
  #state: AppState = { up: undefined, reason: '' };
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #failures = 0;
  /** Probes finished so far. */
  probes = 0;

  constructor(o: AppProbeOptions) {
    this.#o = { everyMs: 2000, timeoutMs: 1000, failureThreshold: 3, ...o };
  }

  get state(): AppState {
    return this.#state;
  }

  /** Where the app is expected, host:port. */
  get address(): string {
    return `${this.#o.host}:${this.#o.port}`;
  }

  /** Probes now, then every `everyMs`. */
  start(): this {
    void this.#tick();
    return this;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  async #tick(): Promise<void> {
    const next = await this.probe();
    if (this.#closed) return;
    this.probes++;
    this.#report(next);
    this.#timer = setTimeout(() => void this.#tick(), this.#o.everyMs);
    this.#timer.unref();
  }

  /** One bounded TCP connect to the app. */
  probe(): Promise<AppState> {
    return new Promise((resolve) => {
      const s = net.connect({ host: this.#o.host, port: this.#o.port });
      const done = (st: AppState) => {
        clearTimeout(t);
        s.destroy();
        resolve(st);
      };
      const t = setTimeout(() => done({ up: false, reason: WHY.ETIMEDOUT! }), this.#o.timeoutMs);
      s.once('connect', () => done({ up: true, reason: '' }));
      s.once('error', (e: NodeJS.ErrnoException) => done({ up: false, reason: WHY[e.code ?? ''] ?? e.code ?? e.message }));
    });
  }

  #report(next: AppState): void {
    const prev = this.#state;
    this.#failures = next.up ? 0 : this.#failures + 1;
    if (!next.up && prev.up && this.#failures < this.#o.failureThreshold) return;
    this.#state = next;
    if (prev.up === next.up && prev.reason === next.reason) return;
    const log = this.#o.logger;
    if (!next.up) log.warn({ app: this.address, reason: next.reason }, `nothing is listening on the app port ${this.address} (${next.reason}): requests to this instance fail and /ready says NOT READY until the app listens (check --app-port)`);
    else if (prev.up === false) log.info({ app: this.address }, `the app port ${this.address} accepts connections now`);
  }
}
