/**
 * Node's native llhttp binding (`_http_common.HTTPParser`, the parser and strictness `node:http`
 * uses), typed for the two places that drive it straight from a socket: the listeners' HTTP/1.1
 * server side (h1-server.ts, requests) and the upstream pool (upstream/h1-pool.ts, responses).
 * Callbacks are set by index (`parser[K_HEADERS_COMPLETE] = fn`), as node:http does.
 */
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(data: Buffer): number | (Error & { code?: string; bytesParsed?: number });
  finish(): number | Error | undefined;
  free(): void;
  close(): void;
  remove(): void;
  /** Reads straight from a native stream handle (llhttp in C++, no 'data' events); kOnExecute reports each read. */
  consume(handle: object): void;
  unconsume(): void;
  /** A copy of the read being reported to kOnExecute (consumed parsers only). */
  getCurrentBuffer(): Buffer;
  /** Whether the current (or last) message's head is complete. */
  headersCompleted(): boolean;
  [k: number]: unknown;
}

interface ParserClass {
  new (): NativeParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
  kLenientNone: number;
}

const common = createRequire(import.meta.url)('_http_common') as { HTTPParser: ParserClass; methods: string[] };
export const HTTPParser = common.HTTPParser;
/** Method names by the index the parser reports. */
export const METHODS = common.methods;
export const K_HEADERS = HTTPParser.kOnHeaders | 0;
export const K_HEADERS_COMPLETE = HTTPParser.kOnHeadersComplete | 0;
export const K_BODY = HTTPParser.kOnBody | 0;
export const K_COMPLETE = HTTPParser.kOnMessageComplete | 0;
export const K_EXECUTE = HTTPParser.kOnExecute | 0;
/** The async resource every parser is initialized with (no async hooks per connection). */
const PARSER_RESOURCE = Object.freeze({});

/**
 * A strict parser (no lenient flags) of requests or responses (`HTTPParser.REQUEST`, `.RESPONSE`);
 * `maxHeaderBytes` 0 is Node's default. Its kOnMessageBegin slot is held as null: Node looks that
 * callback up at the start of every message, and an index the parser does not hold is looked for
 * up its prototype chain, in C++ (perf, one sidecar hop: 2.0 % of the CPU under that lookup; 1.1 %
 * with the slot held). Null is not a function: never called.
 */
export function newParser(type: number, maxHeaderBytes = 0): NativeParser {
  const p = new HTTPParser();
  p.initialize(type, PARSER_RESOURCE, maxHeaderBytes, HTTPParser.kLenientNone);
  p[HTTPParser.kOnMessageBegin] = null;
  return p;
}

/** A socket's native stream (TCPWrap, TLSWrap); `reading` is net's own flag for it. */
export interface StreamHandle {
  isStreamBase?: boolean;
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

/** The handle a parser can consume (read from in C++, as node:http does), if the socket has one. */
export function streamHandle(socket: Socket): StreamHandle | undefined {
  const h = (socket as unknown as { _handle: StreamHandle | null })._handle;
  return h?.isStreamBase === true ? h : undefined;
}

/**
 * Stops reading a socket whose handle a parser consumes: net's pause() stops only the JS side,
 * and bytes a consumed handle reads go to the parser whatever that side's state.
 */
export function pauseConsumed(socket: Socket, h: StreamHandle | undefined): void {
  socket.pause();
  if (h !== undefined && h.reading) {
    h.reading = false;
    h.readStop();
  }
}

/** Reads again after pauseConsumed (and after net's pause()). */
export function resumeConsumed(socket: Socket, h: StreamHandle | undefined): void {
  if (socket.isPaused()) socket.resume();
  if (h !== undefined) startReading(socket, h);
}

/** Starts a handle that pauseConsumed stopped, keeping net's `reading` flag true to it. */
export function startReading(socket: Socket, h: StreamHandle): void {
  if (!h.reading && !socket.destroyed && !socket.connecting) {
    h.reading = true;
    h.readStart();
  }
}

/**
 * A throw inside a parser callback must not reach llhttp: on a consumed socket nothing would catch
 * it (the process's uncaught-exception path). The guard keeps it, makes the callbacks after it do
 * nothing, and hands it over once the parser has returned (`take()`, in kOnExecute).
 */
export class CallbackGuard {
  #thrown: { error: unknown } | undefined;

  get failed(): boolean {
    return this.#thrown !== undefined;
  }

  /** Keeps the first throw. */
  keep(error: unknown): void {
    this.#thrown ??= { error };
  }

  /** The kept throw, once. */
  take(): { error: unknown } | undefined {
    const t = this.#thrown;
    this.#thrown = undefined;
    return t;
  }

  /** `fn` as a parser callback without a result (kOnBody, kOnMessageComplete). */
  wrap0(fn: () => void): () => void {
    return () => {
      if (this.#thrown) return;
      try {
        fn();
      } catch (e) {
        this.keep(e);
      }
    };
  }

  wrap1<T>(fn: (x: T) => void): (x: T) => void {
    return (x: T) => {
      if (this.#thrown) return;
      try {
        fn(x);
      } catch (e) {
        this.keep(e);
      }
    };
  }
}
