/**
 * A request body that can be sent more than once: chunks read from the downstream are kept (up
 * to a limit) so a retry replays them before continuing with live data. Beyond the limit the
 * body is no longer replayable and a retry is not attempted. The source is read with 'data'
 * events, paused whenever nobody wants more (backpressure reaches the downstream); each attempt
 * has its own cursor over what was read: pipe() pushes to a sink (the h2 path: no promise, async
 * iterator or generator per chunk), attempt() is the same as an async iterable (the h1 pool).
 */
import type { Readable } from 'node:stream';

export const DEFAULT_REPLAY_LIMIT = 64 * 1024;

/** Where pipe() delivers an attempt's body. `write` returns false to stop until the pipe is resumed. */
export interface BodySink {
  write(chunk: Buffer): boolean;
  end(): void;
  fail(err: Error): void;
}

/** One attempt's running pipe(): resume() after its sink drained. */
export interface BodyPipe {
  resume(): void;
}

const premature = (): Error => Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' });

export class ReplayableBody {
  readonly #source: Readable;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  /** Chunks dropped from the front after the limit was passed. */
  #dropped = 0;
  #bytes = 0;
  #done = false;
  #overflow = false;
  #error: Error | undefined;
  #attempts = 0;
  /** attempt(): the reader waiting for the next chunk, the end or an error. */
  #pulled: (() => void) | undefined;
  #pulling: Promise<void> | undefined;
  /** pipe(): the newest attempt's pipe (older ones are dead). */
  #pipe: Pipe | undefined;
  #paused = true;
  /** Followers (mirrors) waiting for the next chunk. */
  #wake: (() => void) | undefined;
  #progress: Promise<void> | undefined;

  constructor(source: Readable, limit = DEFAULT_REPLAY_LIMIT) {
    this.#source = source;
    this.#limit = limit;
    source.on('data', (c: Buffer | string) => this.#onData(typeof c === 'string' ? Buffer.from(c) : c));
    source.on('end', () => this.#finish(undefined));
    source.on('error', (e: unknown) => this.#finish(e instanceof Error ? e : new Error(String(e))));
    // (A close after 'end' or 'error' is the normal end of the stream: no Error is made for it.)
    source.on('close', () => {
      if (!this.#done && this.#error === undefined) this.#finish(premature());
    });
    source.pause();
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

  #onData(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.length;
    if (this.#bytes > this.#limit) this.#overflow = true;
    this.#progressed();
  }

  #finish(err: Error | undefined): void {
    if (this.#done || this.#error) return;
    if (err) this.#error = err;
    else this.#done = true;
    this.#progressed();
  }

  /** Something arrived (a chunk, the end, an error): tell whoever waits, then read on or pause. */
  #progressed(): void {
    const w = this.#wake;
    if (w) {
      this.#wake = undefined;
      this.#progress = undefined;
      w();
    }
    const p = this.#pulled;
    if (p) {
      this.#pulled = undefined;
      this.#pulling = undefined;
      p();
    }
    this.#pipe?.deliver();
    this.#flow();
  }

  /** Reads from the source only while a reader wants more. */
  #flow(): void {
    const want = !this.#done && this.#error === undefined && (this.#pulled !== undefined || (this.#pipe !== undefined && this.#pipe.wants()));
    if (want === !this.#paused) return;
    this.#paused = !want;
    if (want) this.#source.resume();
    else this.#source.pause();
  }

  #pull(): Promise<void> {
    if (!this.#pulling) {
      this.#pulling = new Promise<void>((r) => (this.#pulled = r));
      this.#flow();
    }
    return this.#pulling;
  }

  /**
   * Chunk `i` of the body for the attempt whose cursor is at `i`, or undefined when it has not
   * been read yet. Past the replay limit consumed chunks are let go (there will be no replay).
   * Throws when the beginning is gone.
   */
  chunkAt(i: number): Buffer | undefined {
    if (i < this.#dropped) throw new Error('request body is too large to replay');
    const at = i - this.#dropped;
    if (at >= this.#chunks.length) return undefined;
    const c = this.#chunks[at]!;
    if (this.#overflow) {
      this.#chunks.splice(0, at + 1);
      this.#dropped += at + 1;
    }
    return c;
  }

  /** @internal for Pipe */
  get ended(): boolean {
    return this.#done;
  }
  /** @internal for Pipe */
  get failure(): Error | undefined {
    return this.#error;
  }
  /** @internal for Pipe: true while `id` is the newest attempt. */
  current(id: number): boolean {
    return id === this.#attempts;
  }
  /** @internal for Pipe */
  wantMore(): void {
    this.#flow();
  }

  /**
   * The body for one attempt, pushed to `sink`: what was read so far at once, then live chunks as
   * they come, pausing the downstream while the sink is full. A newer attempt stops this one.
   */
  pipe(sink: BodySink): BodyPipe {
    const p = new Pipe(this, ++this.#attempts, sink);
    this.#pipe = p;
    p.deliver();
    this.#flow();
    return p;
  }

  /** The body for one attempt. Only the newest attempt may read; older cursors stop. */
  async *attempt(): AsyncGenerator<Buffer> {
    const id = ++this.#attempts;
    this.#pipe = undefined;
    let i = 0;
    for (;;) {
      if (id !== this.#attempts) return;
      if (this.#error) throw this.#error;
      const c = this.chunkAt(i);
      if (c) {
        i++;
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

/** One attempt's cursor for ReplayableBody.pipe. */
class Pipe implements BodyPipe {
  #i = 0;
  #blocked = false;
  #closed = false;
  #delivering = false;

  constructor(
    private readonly body: ReplayableBody,
    private readonly id: number,
    private readonly sink: BodySink,
  ) {}

  /** True while this pipe can take more. */
  wants(): boolean {
    return !this.#blocked && !this.#closed && this.body.current(this.id);
  }

  resume(): void {
    if (!this.#blocked) return;
    this.#blocked = false;
    this.deliver();
    this.body.wantMore();
  }

  /** Sends what the sink has not had yet; then the end or the error once there is no more. */
  deliver(): void {
    if (this.#delivering || this.#blocked || this.#closed) return;
    if (!this.body.current(this.id)) {
      this.#closed = true;
      return;
    }
    this.#delivering = true;
    try {
      for (;;) {
        let c: Buffer | undefined;
        try {
          c = this.body.chunkAt(this.#i);
        } catch (e) {
          this.#closed = true;
          this.sink.fail(e as Error);
          return;
        }
        if (!c) break;
        this.#i++;
        if (!this.sink.write(c)) {
          this.#blocked = true;
          return;
        }
        if (this.#closed || !this.body.current(this.id)) return;
      }
      const err = this.body.failure;
      if (err) {
        this.#closed = true;
        this.sink.fail(err);
      } else if (this.body.ended) {
        this.#closed = true;
        this.sink.end();
      }
    } finally {
      this.#delivering = false;
    }
  }
}
