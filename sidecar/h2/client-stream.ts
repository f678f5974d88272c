/**
 * One request/response exchange of the sidecar's own HTTP/2 client (client.ts has the connection
 * and the rules it follows): the request head and body sent within the peer's windows, the
 * response head checked as nghttp2 checks it, its body handed on with window given back as the
 * reader takes it, trailers, and every failure reported to the handler once.
 */
import { SendQueue, h2CodeName, h2Err, type SendingStream } from './connection.js';
import { DEFAULT_WINDOW, H2Error, fieldError } from './frames.js';
import type { H2ClientSession } from './client.js';

export type H2FailureKind = 'connect' | 'refused' | 'reset' | 'protocol';

/** What a stream reports to its caller. Each is called at most once except onData and onDrain. */
export interface H2StreamHandler {
  /** The final response head; `end`: no body or trailers follow (and no onEnd comes). Headers are [name, value, ...], no pseudo-headers. */
  onHead(status: number, headers: string[], end: boolean): void;
  /** A body chunk (the caller's to keep). False: pause until resume(). */
  onData(chunk: Buffer): boolean;
  /** The response ended, with its trailers if it had any. */
  onEnd(trailers: string[] | undefined): void;
  /** The stream failed before it ended. `code`: the HTTP/2 error code when there was one. */
  onFailure(kind: H2FailureKind, err: Error, code: number): void;
  /** The request body may be written again after write() returned false. */
  onDrain(): void;
}

/** The window we give each stream's response (given back as the reader takes it). */
export const STREAM_WINDOW = 1 << 20;

/** One request/response exchange on a session. */
export class H2ClientStream implements SendingStream {
  id = 0;
  readonly #session: H2ClientSession;
  readonly #h: H2StreamHandler;
  readonly #head: boolean;
  #headers: string[] | undefined;
  #endOnOpen: boolean;
  /** What is left to send: body chunks waiting for window, and whether end() was called. */
  readonly #queue = new SendQueue();
  #endQueued = false;
  #localEnded = false;
  #remoteEnded = false;
  #headed = false;
  #done = false;
  #wantDrain = false;
  sendWindow = DEFAULT_WINDOW;
  #recvAvail = STREAM_WINDOW;
  #consumed = 0;
  #paused = false;
  /** Received while paused: chunks, then the end (with trailers) once it came. */
  #held: Buffer[] | undefined;
  #heldEnd: { trailers: string[] | undefined } | undefined;
  #expectLength = -1;
  #received = 0;

  constructor(session: H2ClientSession, headers: string[], endStream: boolean, h: H2StreamHandler, head: boolean) {
    this.#session = session;
    this.#headers = headers;
    this.#endOnOpen = endStream;
    this.#localEnded = false;
    this.#h = h;
    this.#head = head;
  }

  /** Sends the request head (the session calls this when the stream gets its id). */
  open(id: number, initialWindow: number): string[] | undefined {
    this.id = id;
    this.sendWindow = initialWindow;
    const h = this.#headers;
    this.#headers = undefined;
    if (this.#endOnOpen) this.#localEnded = true;
    return h;
  }

  get endOnOpen(): boolean {
    return this.#endOnOpen;
  }

  /** Queues a body chunk; false: wait for onDrain before writing more. */
  write(chunk: Buffer): boolean {
    if (this.#done || this.#localEnded || this.#endQueued) return false;
    if (chunk.length === 0) return true;
    this.#queue.push(chunk);
    if (this.id !== 0) this.#session.pump(this);
    const ok = this.#queue.bytes === 0 && !this.#session.needDrain;
    if (!ok) this.#wantDrain = true;
    return ok;
  }

  /** Ends the request body. */
  end(): void {
    if (this.#done || this.#localEnded || this.#endQueued) return;
    this.#endQueued = true;
    if (this.id !== 0) this.#session.pump(this);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = undefined;
    if (held) {
      for (let i = 0; i < held.length; i++) {
        if (this.#done) return;
        const c = held[i]!;
        this.#consume(c.length);
        if (!this.#h.onData(c) && i < held.length - 1) {
          // Paused again: keep the rest.
          this.#paused = true;
          this.#held = held.slice(i + 1);
          return;
        }
      }
    }
    if (this.#done) return;
    const end = this.#heldEnd;
    if (end && !this.#paused) {
      this.#heldEnd = undefined;
      this.#finish(end.trailers);
    }
  }

  /** Gives up the stream: RST_STREAM CANCEL; the handler hears nothing more. */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#session.closeStream(this, this.id !== 0 && !(this.#localEnded && this.#remoteEnded) ? H2Error.CANCEL : -1);
  }

  get done(): boolean {
    return this.#done;
  }

  // --- called by the session ---

  /** Takes up to `max` queued bytes for one DATA frame; [chunk, endStream], or undefined when nothing is to be sent. */
  take(max: number): [Buffer | undefined, boolean] | undefined {
    if (this.#localEnded) return undefined;
    if (this.#queue.bytes === 0) {
      if (!this.#endQueued) return undefined;
      this.#localEnded = true;
      return [undefined, true];
    }
    if (max <= 0) return undefined;
    const chunk = this.#queue.take(max);
    const end = this.#queue.bytes === 0 && this.#endQueued;
    if (end) this.#localEnded = true;
    return [chunk, end];
  }

  get hasQueued(): boolean {
    return !this.#localEnded && (this.#queue.bytes > 0 || this.#endQueued);
  }

  get localEnded(): boolean {
    return this.#localEnded;
  }

  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** The session can take more of the body: tell the writer if it was waiting. */
  drained(): void {
    if (!this.#wantDrain || this.#done || this.#queue.bytes > 0 || this.#session.needDrain) return;
    this.#wantDrain = false;
    this.#h.onDrain();
  }

  /** A complete header block for this stream. Returns an error message when it is malformed. */
  headers(list: string[], endStream: boolean, tooLarge: boolean): string | undefined {
    if (this.#remoteEnded) return 'HEADERS after the end of the stream';
    if (tooLarge) return 'response head larger than the header list limit';
    if (!this.#headed) {
      let status = -1;
      let regular = false;
      const out: string[] = [];
      for (let i = 0; i < list.length; i += 2) {
        const n = list[i]!;
        const v = list[i + 1]!;
        if (n.charCodeAt(0) === 58) {
          if (regular || n !== ':status' || status !== -1 || !/^[0-9]{3}$/.test(v)) return `invalid pseudo-header ${n}`;
          status = Number(v);
          continue;
        }
        regular = true;
        const bad = fieldError(n, v);
        if (bad) return bad;
        if (n === 'content-length') {
          if (!/^[0-9]{1,15}$/.test(v) || (this.#expectLength >= 0 && this.#expectLength !== Number(v))) return 'invalid content-length';
          this.#expectLength = Number(v);
        }
        out.push(n, v);
      }
      if (status < 0) return 'no :status in the response';
      if (status < 200) {
        if (endStream || status === 101) return `status ${status} cannot end or switch an HTTP/2 stream`;
        this.#expectLength = -1;
        return undefined; // informational: the final head follows
      }
      if (this.#head || status === 204 || status === 304) this.#expectLength = -1;
      this.#headed = true;
      if (endStream) {
        if (this.#expectLength > 0) return 'content-length without the body';
        this.#remoteEnded = true;
      }
      this.#h.onHead(status, out, endStream);
      if (endStream && !this.#done) this.#complete();
      return undefined;
    }
    // Trailers: the end of the stream, no pseudo-headers.
    if (!endStream) return 'HEADERS in the middle of a response body';
    for (let i = 0; i < list.length; i += 2) {
      if (list[i]!.charCodeAt(0) === 58) return 'pseudo-header in trailers';
      const bad = fieldError(list[i]!, list[i + 1]!);
      if (bad) return bad;
    }
    if (this.#expectLength >= 0 && this.#received !== this.#expectLength) return 'body shorter than its content-length';
    this.#remoteEnded = true;
    this.#end(list);
    return undefined;
  }

  /** A DATA frame's payload (padding removed); `flowLength` is what it counts against the window. Error message when it is not allowed. */
  data(chunk: Buffer, flowLength: number, endStream: boolean): string | H2Error | undefined {
    if (this.#remoteEnded) return H2Error.STREAM_CLOSED;
    if (!this.#headed) return 'DATA before the response head';
    if (flowLength > this.#recvAvail) return H2Error.FLOW_CONTROL_ERROR;
    this.#recvAvail -= flowLength;
    // Padding is given back at once; the payload as the reader takes it.
    const pad = flowLength - chunk.length;
    if (pad > 0) this.#consume(pad);
    this.#received += chunk.length;
    if (this.#expectLength >= 0 && (this.#received > this.#expectLength || (endStream && this.#received !== this.#expectLength))) return 'body length differs from its content-length';
    if (endStream) this.#remoteEnded = true;
    if (chunk.length > 0) {
      if (this.#paused) (this.#held ??= []).push(chunk);
      else {
        this.#consume(chunk.length);
        if (!this.#h.onData(chunk)) this.#paused = true;
      }
    }
    if (endStream && !this.#done) this.#end(undefined);
    return undefined;
  }

  #consume(n: number): void {
    this.#consumed += n;
    if (this.#remoteEnded) return;
    if (this.#consumed >= STREAM_WINDOW / 2) {
      this.#recvAvail += this.#consumed;
      this.#session.windowUpdate(this.id, this.#consumed);
      this.#consumed = 0;
    }
  }

  #end(trailers: string[] | undefined): void {
    if (this.#paused && (this.#held?.length ?? 0) > 0) {
      this.#heldEnd = { trailers };
      this.#complete(false);
      return;
    }
    this.#finish(trailers);
  }

  #finish(trailers: string[] | undefined): void {
    this.#complete();
    this.#h.onEnd(trailers);
  }

  /** The response is in: the request body stops (an early response), the stream leaves the session. */
  #complete(markDone = true): void {
    if (markDone) this.#done = true;
    const cancelBody = !this.#localEnded;
    this.#localEnded = true;
    this.#queue.clear();
    this.#session.closeStream(this, cancelBody ? H2Error.CANCEL : -1);
  }

  /** The stream failed (RST_STREAM, GOAWAY, the connection). */
  fail(kind: H2FailureKind, err: Error, code: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#held = undefined;
    this.#heldEnd = undefined;
    this.#h.onFailure(kind, err, code);
  }

  /** A RST_STREAM from the peer. */
  reset(code: number): void {
    if (this.#done) return;
    if (this.#remoteEnded) {
      // The response is complete (its end may still be held for a paused reader): the peer only stops our body.
      this.#localEnded = true;
      this.#queue.clear();
      return;
    }
    const kind = code === H2Error.REFUSED_STREAM ? 'refused' : 'reset';
    this.fail(kind, h2Err(`upstream reset the stream (${h2CodeName(code)})`, code === H2Error.REFUSED_STREAM ? 'ERR_HTTP2_REFUSED_STREAM' : 'ERR_HTTP2_STREAM_ERROR'), code);
  }
}

