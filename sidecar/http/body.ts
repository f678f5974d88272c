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

  #pull(): Promise<void> {
    this.#pulling ??= this.#source.next().then(
      (r) => {
        this.#pulling = undefined;
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
}
