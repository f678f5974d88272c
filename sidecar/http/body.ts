/**
 * A request body that can be sent more than once: chunks read from the downstream are kept (up
 * to a limit) so a retry replays them before continuing with live data. Beyond the limit the
 * body is no longer replayable and a retry is not attempted. One reader pulls from the source;
 * each attempt iterates its own cursor over what was read.
 */
import type { Readable } from 'node:stream';

export const DEFAULT_REPLAY_LIMIT = 64 * 1024;

export class ReplayableBody {
  readonly #source: AsyncIterator<Buffer>;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  /** Chunks dropped from the front after the limit was passed. */
  #dropped = 0;
  #bytes = 0;
  #done = false;
  #overflow = false;
  #error: Error | undefined;
  #pulling: Promise<void> | undefined;
  #attempts = 0;
  /** Followers (mirrors) waiting for the next chunk. */
  #wake: (() => void) | undefined;
  #progress: Promise<void> | undefined;

  constructor(source: Readable, limit = DEFAULT_REPLAY_LIMIT) {
    this.#source = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    this.#limit = limit;
  }

  /** True when a new attempt can send the whole body again. */
  get replayable(): boolean {
    return !this.#overflow && this.#error === undefined;
  }

  /** Bytes read from the downstream so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once the downstream body has been read to its end. */
  get complete(): boolean {
    return this.#done;
  }

  #woke(): void {
    const w = this.#wake;
    if (!w) return;
    this.#wake = undefined;
    this.#progress = undefined;
    w();
  }

  #pull(): Promise<void> {
    this.#pulling ??= this.#source.next().then(
      (r) => {
        this.#pulling = undefined;
        this.#woke();
        if (r.done) {
          this.#done = true;
          return;
        }
        const chunk = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
        this.#chunks.push(chunk);
        this.#bytes += chunk.length;
        if (this.#bytes > this.#limit) this.#overflow = true;
      },
      (e: unknown) => {
        this.#pulling = undefined;
        this.#woke();
        this.#error = e instanceof Error ? e : new Error(String(e));
      },
    );
    return this.#pulling;
  }

  /** The body for one attempt. Only the newest attempt may read; older cursors stop. */
  async *attempt(): AsyncGenerator<Buffer> {
    const id = ++this.#attempts;
    let i = 0;
    for (;;) {
      if (id !== this.#attempts) return;
      if (this.#error) throw this.#error;
      if (i < this.#dropped) throw new Error('request body is too large to replay');
      const at = i - this.#dropped;
      if (at < this.#chunks.length) {
        const c = this.#chunks[at]!;
        i++;
        // Past the limit there will be no replay: let consumed chunks go.
        if (this.#overflow) {
          this.#chunks.splice(0, at + 1);
          this.#dropped += at + 1;
        }
        yield c;
        continue;
      }
      if (this.#done) return;
      await this.#pull();
    }
  }

  /**
   * The body again, for a follower that must never slow the reader down (a mirror): it reads only
   * what the attempts have pulled, waiting for more, and fails once the body outgrew the replay
   * limit (the beginning is gone by then).
   */
  async *follow(): AsyncGenerator<Buffer> {
    let i = 0;
    for (;;) {
      if (this.#error) throw this.#error;
      if (this.#overflow || this.#dropped > 0) throw new Error(`request body is larger than ${this.#limit} bytes: not mirrored`);
      if (i < this.#chunks.length) {
        yield this.#chunks[i++]!;
        continue;
      }
      if (this.#done) return;
      await (this.#progress ??= new Promise<void>((r) => (this.#wake = r)));
    }
  }
}
