/**
 * A watch on an etcd prefix that does not die quietly. The etcd3 client resumes a watch by itself
 * after a connection drops, from the last revision it saw; but when that revision has been
 * compacted away meanwhile (a replica cut off for longer than the history etcd keeps), etcd
 * cancels the watch, the client drops it, and nothing more would ever arrive: a replica serving
 * stale configuration without anyone noticing. Here a cancelled watch is followed by a fresh read
 * of the whole prefix (`resync`, which also hands on what changed) and a new watch from the
 * revision of that read.
 */
import type { Etcd3, IWatchResponse, Watcher } from 'etcd3';
import type { Logger } from '../../common/log.js';

export interface FollowOptions {
  client: Etcd3;
  prefix: string;
  /** What is followed, for the log. */
  what: string;
  logger: Logger;
  onData: (res: IWatchResponse) => void;
  /**
   * Reads the prefix again after the watch was cancelled and brings the follower's view up to
   * date; resolves to the etcd revision it read at (the new watch starts after it). Unset: the
   * new watch starts from now (for watches that only need to hear of changes).
   */
  resync?: () => Promise<number | undefined>;
}

export class Follower {
  readonly #o: FollowOptions;
  #watcher: Watcher | undefined;
  #closed = false;
  #retry: NodeJS.Timeout | undefined;
  /** Times the watch was cancelled and made again (a metric and a test hook). */
  resyncs = 0;
  #lastError = '';
  #lastErrorAt = 0;

  constructor(o: FollowOptions) {
    this.#o = o;
  }

  /** Starts the watch after `revision` (undefined: from now). */
  async start(revision?: number): Promise<void> {
    let b = this.#o.client.watch().prefix(this.#o.prefix);
    if (revision !== undefined) b = b.startRevision(String(revision + 1));
    const w = await b.create();
    if (this.#closed) {
      await w.cancel().catch(() => undefined);
      return;
    }
    this.#watcher = w;
    w.on('data', (res) => this.#o.onData(res));
    w.on('error', (e: Error) => {
      // Other errors: the client re-establishes the stream and resumes this watch by itself; said
      // once a minute per kind, so one that repeats at every resume is seen, not a log flood.
      if (!/canceled/i.test(e.message) || this.#watcher !== w) {
        const now = Date.now();
        if (e.message !== this.#lastError || now - this.#lastErrorAt > 60_000) {
          this.#lastError = e.message;
          this.#lastErrorAt = now;
          this.#o.logger.warn({ err: { message: e.message }, what: this.#o.what }, 'etcd watch failed; the client resumes it');
        }
        return;
      }
      this.#watcher = undefined;
      this.#o.logger.warn({ err: { message: e.message }, what: this.#o.what }, 'etcd cancelled a watch (its history was compacted past it); reading again and watching anew');
      this.#again(250);
    });
  }

  #again(delayMs: number): void {
    if (this.#closed) return;
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      void (async () => {
        try {
          const rev = this.#o.resync ? await this.#o.resync() : undefined;
          this.resyncs++;
          await this.start(rev);
        } catch (e) {
          this.#o.logger.warn({ err: { message: (e as Error).message }, what: this.#o.what }, 'etcd: reading again after a cancelled watch failed; retrying');
          this.#again(Math.min(5000, delayMs * 2));
        }
      })();
    }, delayMs);
    this.#retry.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#watcher?.cancel().catch(() => undefined);
  }
}
