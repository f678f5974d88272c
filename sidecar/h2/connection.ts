/**
 * What both ends of an HTTP/2 connection do the same way (RFC 9113): reading frames off the socket
 * and checking their framing, HEADERS + CONTINUATION assembly and HPACK decoding, SETTINGS, PING,
 * WINDOW_UPDATE and the flow-control windows, sending DATA within them, one socket write per tick
 * for everything queued, and connection errors (GOAWAY, then close). The client (client.ts) and
 * the server (server.ts) add what differs: who opens streams and what a head means.
 */
import type { Socket } from 'node:net';
import { DEFAULT_MAX_FRAME, DEFAULT_WINDOW, Flag, Frame, H2Error, MAX_WINDOW, Setting, frame, frameHeader, u32 } from './frames.js';
import { HpackDecoder, HpackEncoder, HpackError, blockBound } from './hpack.js';
import { StreamSet, StreamTable } from './stream-table.js';

/** A stream as the connection sends its DATA. */
export interface SendingStream {
  readonly id: number;
  sendWindow: number;
  readonly done: boolean;
  /** Up to `max` bytes of body for one DATA frame and whether it ends the stream; undefined: nothing to send now. */
  take(max: number): [Buffer | undefined, boolean] | undefined;
  readonly hasQueued: boolean;
  /** The connection can take more from this stream. */
  drained(): void;
}

/** A stream's body bytes waiting to be sent, in order; taken a frame at a time. */
export class SendQueue {
  #chunks: Buffer[] = [];
  /** Bytes queued. */
  bytes = 0;

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.bytes += chunk.length;
  }

  /** Up to `max` (> 0) bytes from the front; the queue must not be empty. */
  take(max: number): Buffer {
    const first = this.#chunks[0]!;
    let chunk: Buffer;
    if (first.length <= max) {
      this.#chunks.shift();
      chunk = first;
    } else {
      chunk = first.subarray(0, max);
      this.#chunks[0] = first.subarray(max);
    }
    this.bytes -= chunk.length;
    return chunk;
  }

  clear(): void {
    this.#chunks.length = 0;
    this.bytes = 0;
  }
}

const CODE_NAMES = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

/**
 * The idle close both ends share: `onIdle` runs once `busy()` has been false for `ms` since the
 * last `touch()` (the last stream's end). A timer that fires early re-arms for the rest; it is
 * unref'd (never keeps the process alive). `ms` 0: never.
 */
export class IdleTimer {
  #timer: NodeJS.Timeout | undefined;
  #since = Date.now();

  constructor(
    public ms: number,
    private readonly busy: () => boolean,
    public onIdle: () => void,
  ) {}

  /** The last stream ended now: the idle time counts from here. */
  touch(): void {
    this.#since = Date.now();
  }

  arm(): void {
    if (this.#timer || this.ms === 0 || this.busy()) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.busy()) return;
      if (Date.now() - this.#since < this.ms) return this.arm();
      this.onIdle();
    }, Math.max(1, this.ms - (Date.now() - this.#since)));
    this.#timer.unref();
  }

  disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

export function h2CodeName(code: number): string {
  return CODE_NAMES[code] ?? `0x${code.toString(16)}`;
}

export function h2Err(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Frames we accept: our SETTINGS_MAX_FRAME_SIZE is the default. */
const MAX_FRAME_IN = DEFAULT_MAX_FRAME;

export interface EndpointLimits {
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise (each stream's receive window). */
  streamWindow: number;
  /** The connection's receive window. */
  connWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise; a larger head is decoded but reported as too large. */
  maxHeaderList: number;
  /** A header block (HEADERS + CONTINUATION) larger than this ends the connection (CONTINUATION floods). */
  maxHeaderBlock: number;
  /** More settings we advertise ([id, value] pairs). */
  settings: [number, number][];
}

export abstract class H2Endpoint<S extends SendingStream> {
  readonly socket: Socket;
  /** Open streams by id (a StreamTable, not a Map: stream-table.ts says why). */
  protected readonly streams = new StreamTable<S>();
  protected readonly limits: EndpointLimits;
  protected dead = false;
  protected peerInitialWindow = DEFAULT_WINDOW;
  protected peerMaxFrame = DEFAULT_MAX_FRAME;
  protected peerMaxConcurrent = Infinity;
  #settingsSeen = false;
  #sendWindow = DEFAULT_WINDOW;
  #recvAvail: number;
  #recvUnacked = 0;
  #rest: Buffer | undefined;
  readonly #hpack = new HpackDecoder();
  readonly #encoder = new HpackEncoder();
  #block: Buffer[] | undefined;
  #blockBytes = 0;
  #blockStream = 0;
  #blockFlags = 0;
  #out: Buffer[] = [];
  #outBytes = 0;
  #flushQueued = false;
  /** Streams with body waiting for window. */
  protected readonly blocked = new StreamSet<S>();
  readonly #flushFn = (): void => this.flush();

  constructor(socket: Socket, limits: EndpointLimits) {
    this.socket = socket;
    this.limits = limits;
    this.#recvAvail = limits.connWindow;
  }

  /** Our SETTINGS and the connection window: after the client preface (client) or at once (server). */
  protected sendSettings(): void {
    const l = this.limits;
    const all: [number, number][] = [[Setting.INITIAL_WINDOW_SIZE, l.streamWindow], [Setting.MAX_HEADER_LIST_SIZE, l.maxHeaderList], ...l.settings];
    const p = Buffer.allocUnsafe(6 * all.length);
    all.forEach(([k, v], i) => {
      p.writeUInt16BE(k, 6 * i);
      p.writeUInt32BE(v, 6 * i + 2);
    });
    this.send(frame(Frame.SETTINGS, 0, 0, p));
    if (l.connWindow > DEFAULT_WINDOW) this.send(frame(Frame.WINDOW_UPDATE, 0, 0, u32(l.connWindow - DEFAULT_WINDOW)));
  }

  // --- what each side does ---

  /** A stream id the peer may not use in this state (never opened by the right side). */
  protected abstract idle(id: number): boolean;
  /** A complete header block for stream `id` (decoded whatever the stream's state). */
  protected abstract onHeaderBlock(id: number, list: string[], endStream: boolean, fits: boolean): void;
  /** DATA for a stream the connection knows (padding removed; `flow` counts against the window). */
  protected abstract onStreamData(s: S, chunk: Buffer, flow: number, endStream: boolean): void;
  /** DATA for an id that is not open (closed, or reset by us). */
  protected abstract onClosedData(id: number): void;
  protected abstract onRstStream(s: S, code: number): void;
  protected abstract onGoaway(lastId: number, code: number): void;
  /** The peer's SETTINGS were applied: streams may be opened or sent. */
  protected abstract onSettingsApplied(): void;
  /** A frame the other side never sends (PUSH_PROMISE from a client; anything else is shared). */
  protected abstract onPushPromise(): void;
  /** A connection error: every stream fails with this error. */
  protected abstract failAll(err: Error, code: number): void;
  /** The peer acknowledged one of our PINGs. */
  protected onPingAck(): void {}
  /** A frame arrived (for flood accounting): false ends the connection. */
  protected onFrameCounted(_type: number, _flags: number, _length: number): boolean {
    return true;
  }

  // --- writing ---

  protected send(b: Buffer): void {
    this.#out.push(b);
    this.#outBytes += b.length;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      // A microtask, not a nextTick: after an I/O callback Node runs the nextTick queue first,
      // then microtasks, so frames the ticks add join this write. A proxied request body's end
      // comes that way (a Readable emits 'end' on a nextTick after its last 'data'): with a
      // nextTick flush every proxied gRPC call went upstream as two writes, HEADERS + DATA, then
      // an END_STREAM frame alone.
      queueMicrotask(this.#flushFn);
    }
  }

  protected flush(): void {
    this.#flushQueued = false;
    const out = this.#out;
    if (out.length === 0) return;
    const bytes = this.#outBytes;
    this.#out = [];
    this.#outBytes = 0;
    const s = this.socket;
    if (s.destroyed) return;
    if (out.length === 1) s.write(out[0]!);
    else if (bytes <= 64 * 1024) s.write(Buffer.concat(out, bytes));
    else {
      s.cork();
      for (const b of out) s.write(b);
      s.uncork();
    }
  }

  get needDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  protected onSocketDrain(): void {
    for (const s of this.streams.values()) s.drained();
  }

  /** Sends what the stream has queued, within the windows. */
  pump(s: S): void {
    if (this.dead || s.done) return;
    for (;;) {
      const max = Math.min(this.#sendWindow, s.sendWindow, this.peerMaxFrame);
      const t = s.take(max);
      if (!t) break;
      const [chunk, end] = t;
      const len = chunk ? chunk.length : 0;
      const h = Buffer.allocUnsafe(9);
      frameHeader(h, 0, len, Frame.DATA, end ? Flag.END_STREAM : 0, s.id);
      this.send(h);
      if (chunk) this.send(chunk);
      this.#sendWindow -= len;
      s.sendWindow -= len;
      if (end) break;
    }
    if (s.hasQueued) this.blocked.add(s);
    else this.blocked.delete(s);
    s.drained();
  }

  /** Gives the peer `n` more bytes of window on stream `id`. */
  windowUpdate(id: number, n: number): void {
    if (!this.dead) this.send(frame(Frame.WINDOW_UPDATE, 0, id, u32(n)));
  }

  protected sendRst(id: number, code: number): void {
    if (!this.dead) this.send(frame(Frame.RST_STREAM, 0, id, u32(code)));
  }

  protected sendGoaway(lastId: number, code: number, debug = ''): void {
    const d = Buffer.from(debug, 'latin1');
    const p = Buffer.allocUnsafe(8 + d.length);
    p.writeUInt32BE(lastId, 0);
    p.writeUInt32BE(code, 4);
    d.copy(p, 8);
    this.send(frame(Frame.GOAWAY, 0, 0, p));
  }

  /**
   * A head or trailers ([name, value, ...], pseudo-headers first) on stream `id`. Encoded when it
   * is queued, so blocks reach the peer in the order the table changed.
   */
  sendHeaders(id: number, list: string[], endStream: boolean): void {
    if (this.dead) return;
    const b = Buffer.allocUnsafe(9 + blockBound(list));
    this.sendHeaderBlock(b, this.#encoder.encode(b, 9, list), id, endStream);
  }

  /** HEADERS (and CONTINUATION frames past the peer's frame size) for an encoded block at b[9..end). */
  protected sendHeaderBlock(b: Buffer, end: number, id: number, endStream: boolean): void {
    const blockLen = end - 9;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    const max = this.peerMaxFrame;
    if (blockLen <= max) {
      frameHeader(b, 0, blockLen, Frame.HEADERS, Flag.END_HEADERS | endFlag, id);
      this.send(b.subarray(0, end));
      return;
    }
    frameHeader(b, 0, max, Frame.HEADERS, endFlag, id);
    this.send(b.subarray(0, 9 + max));
    for (let off = 9 + max; off < end; off += max) {
      const n = Math.min(max, end - off);
      this.send(frame(Frame.CONTINUATION, off + n >= end ? Flag.END_HEADERS : 0, id, b.subarray(off, off + n)));
    }
  }

  // --- reading ---

  protected onSocketData(chunk: Buffer): void {
    if (this.dead) return;
    let b = chunk;
    if (this.#rest) {
      b = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    let off = this.consumePreface(b);
    if (off < 0) return;
    try {
      while (b.length - off >= 9) {
        const len = (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!;
        if (len > MAX_FRAME_IN) return this.connError(H2Error.FRAME_SIZE_ERROR, `frame of ${len} bytes above the ${MAX_FRAME_IN} allowed`);
        if (b.length - off - 9 < len) break;
        const type = b[off + 3]!;
        const flags = b[off + 4]!;
        const id = b.readUInt32BE(off + 5) & 0x7fffffff;
        const start = off + 9;
        off = start + len;
        this.#frame(type, flags, id, b, start, off);
        if (this.dead) return;
      }
    } catch (e) {
      if (e instanceof HpackError) return this.connError(H2Error.COMPRESSION_ERROR, e.message);
      // Our own code threw handling a frame: this connection and its streams fail, the process goes on.
      return this.connError(H2Error.INTERNAL_ERROR, `internal error: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (off < b.length) this.#rest = b.subarray(off);
  }

  /** The server reads the client preface first: returns where frames start, or -1 (wait / refused). */
  protected consumePreface(_b: Buffer): number {
    return 0;
  }

  /** Keeps unparsed bytes for the next read (the server's preface wait). */
  protected keep(b: Buffer): void {
    this.#rest = b;
  }

  #frame(type: number, flags: number, id: number, b: Buffer, start: number, end: number): void {
    const len = end - start;
    if (!this.onFrameCounted(type, flags, len)) return this.connError(H2Error.ENHANCE_YOUR_CALM, 'too many frames of one kind');
    if (!this.#settingsSeen) {
      if (type !== Frame.SETTINGS || flags & Flag.ACK) return this.connError(H2Error.PROTOCOL_ERROR, 'the peer did not start with SETTINGS');
      this.#settingsSeen = true;
    }
    if (this.#block && type !== Frame.CONTINUATION) return this.connError(H2Error.PROTOCOL_ERROR, 'a header block was interrupted');
    switch (type) {
      case Frame.DATA:
        return this.#onData(flags, id, b, start, end);
      case Frame.HEADERS:
        return this.#onHeaders(flags, id, b, start, end);
      case Frame.CONTINUATION: {
        if (!this.#block || id !== this.#blockStream) return this.connError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
        this.#blockBytes += len;
        if (this.#blockBytes > this.limits.maxHeaderBlock) return this.connError(H2Error.ENHANCE_YOUR_CALM, 'header block too large');
        this.#block.push(b.subarray(start, end));
        if (flags & Flag.END_HEADERS) this.#blockDone();
        return;
      }
      case Frame.PRIORITY:
        if (id === 0) return this.connError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (len !== 5) return this.streamError(id, H2Error.FRAME_SIZE_ERROR, 'PRIORITY frame of the wrong size');
        return;
      case Frame.RST_STREAM: {
        if (id === 0) return this.connError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (len !== 4) return this.connError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM frame of the wrong size');
        if (this.idle(id)) return this.connError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
        const s = this.streams.get(id);
        if (s) this.onRstStream(s, b.readUInt32BE(start));
        return;
      }
      case Frame.SETTINGS:
        return this.#onSettings(flags, id, b, start, end);
      case Frame.PUSH_PROMISE:
        return this.onPushPromise();
      case Frame.PING:
        if (id !== 0) return this.connError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (len !== 8) return this.connError(H2Error.FRAME_SIZE_ERROR, 'PING frame of the wrong size');
        if (!(flags & Flag.ACK)) this.send(frame(Frame.PING, Flag.ACK, 0, Buffer.from(b.subarray(start, end))));
        else this.onPingAck();
        return;
      case Frame.GOAWAY:
        if (id !== 0) return this.connError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (len < 8) return this.connError(H2Error.FRAME_SIZE_ERROR, 'GOAWAY frame too short');
        return this.onGoaway(b.readUInt32BE(start) & 0x7fffffff, b.readUInt32BE(start + 4));
      case Frame.WINDOW_UPDATE:
        return this.#onWindowUpdate(id, b, start, len);
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  #onWindowUpdate(id: number, b: Buffer, start: number, len: number): void {
    if (len !== 4) return this.connError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE frame of the wrong size');
    const inc = b.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) return this.connError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.#sendWindow += inc;
      if (this.#sendWindow > MAX_WINDOW) return this.connError(H2Error.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      if (this.blocked.size) for (const s of this.blocked.values()) this.pump(s);
      return;
    }
    if (this.idle(id)) return this.connError(H2Error.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
    const s = this.streams.get(id);
    if (!s) return;
    if (inc === 0) return this.streamError(id, H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.streamError(id, H2Error.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
    this.pump(s);
  }

  #onData(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (id === 0) return this.connError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    if (this.idle(id)) return this.connError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
    const flow = end - start;
    if (flow > this.#recvAvail) return this.connError(H2Error.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.#recvAvail -= flow;
    // The connection window is given back as frames arrive: the streams' windows do the pacing.
    this.#recvUnacked += flow;
    if (this.#recvUnacked >= this.limits.connWindow / 2) {
      this.#recvAvail += this.#recvUnacked;
      this.send(frame(Frame.WINDOW_UPDATE, 0, 0, u32(this.#recvUnacked)));
      this.#recvUnacked = 0;
    }
    if (flags & Flag.PADDED) {
      if (flow < 1) return this.connError(H2Error.FRAME_SIZE_ERROR, 'padded DATA without a pad length');
      const pad = b[start]!;
      if (pad >= flow) return this.connError(H2Error.PROTOCOL_ERROR, 'DATA padding longer than the frame');
      start += 1;
      end -= pad;
    }
    const s = this.streams.get(id);
    if (!s) return this.onClosedData(id);
    this.onStreamData(s, b.subarray(start, end), flow, (flags & Flag.END_STREAM) !== 0);
  }

  #onHeaders(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (id === 0) return this.connError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    if (flags & Flag.PADDED) {
      if (end - start < 1) return this.connError(H2Error.FRAME_SIZE_ERROR, 'padded HEADERS without a pad length');
      const pad = b[start]!;
      start += 1;
      if (pad > end - start) return this.connError(H2Error.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
      end -= pad;
    }
    if (flags & Flag.PRIORITY) {
      if (end - start < 5) return this.connError(H2Error.FRAME_SIZE_ERROR, 'HEADERS priority fields missing');
      start += 5;
    }
    this.#block = [b.subarray(start, end)];
    this.#blockBytes = end - start;
    this.#blockStream = id;
    this.#blockFlags = flags;
    if (this.#blockBytes > this.limits.maxHeaderBlock) return this.connError(H2Error.ENHANCE_YOUR_CALM, 'header block too large');
    if (flags & Flag.END_HEADERS) this.#blockDone();
    else this.onBlockOpen();
  }

  /** A header block was left open (HEADERS without END_HEADERS): only its CONTINUATION frames may come now, on any stream. */
  protected onBlockOpen(): void {}
  /** The open header block ended (END_HEADERS). */
  protected onBlockClosed(): void {}

  #blockDone(): void {
    const parts = this.#block!;
    if (parts.length > 1) this.onBlockClosed();
    this.#block = undefined;
    const block = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const list: string[] = [];
    // Decoded whatever the stream's state: the table must follow the peer's encoder.
    const fits = this.#hpack.decode(block, 0, block.length, list, this.limits.maxHeaderList);
    this.onHeaderBlock(this.#blockStream, list, (this.#blockFlags & Flag.END_STREAM) !== 0, fits);
  }

  #onSettings(flags: number, id: number, b: Buffer, start: number, end: number): void {
    if (id !== 0) return this.connError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    const len = end - start;
    if (flags & Flag.ACK) {
      if (len !== 0) this.connError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (len % 6 !== 0) return this.connError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS frame of the wrong size');
    for (let at = start; at < end; at += 6) {
      const key = b.readUInt16BE(at);
      const v = b.readUInt32BE(at + 2);
      switch (key) {
        case Setting.ENABLE_PUSH:
          if (!this.pushSettingOk(v)) return this.connError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${v}`);
          break;
        case Setting.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrent = v;
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (v > MAX_WINDOW) return this.connError(H2Error.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          const delta = v - this.peerInitialWindow;
          this.peerInitialWindow = v;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) return this.connError(H2Error.FLOW_CONTROL_ERROR, 'a stream window above 2^31-1');
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (v < DEFAULT_MAX_FRAME || v > 0xffffff) return this.connError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${v} out of range`);
          this.peerMaxFrame = v;
          break;
        case Setting.HEADER_TABLE_SIZE:
          this.#encoder.setMaxTableSize(v);
          break;
        default:
          break; // MAX_HEADER_LIST_SIZE: advisory; unknown: ignored
      }
    }
    this.send(frame(Frame.SETTINGS, Flag.ACK, 0));
    if (this.blocked.size) for (const s of this.blocked.values()) this.pump(s);
    this.onSettingsApplied();
  }

  /** SETTINGS_ENABLE_PUSH from the peer: a server may only send 0; a client 0 or 1. */
  protected abstract pushSettingOk(v: number): boolean;

  /** A stream error: RST_STREAM with `code`; the side decides what its stream hears. */
  protected abstract streamError(id: number, code: H2Error, message: string): void;

  /** A connection error: GOAWAY with the code, the socket closed, every stream failed. */
  protected connError(code: H2Error, message: string, lastId = 0): void {
    if (this.dead) return;
    this.sendGoaway(lastId, code, message);
    this.flush();
    this.dead = true;
    this.failAll(h2Err(`HTTP/2 error: ${message} (${h2CodeName(code)})`, 'ERR_HTTP2_ERROR'), code);
    this.socket.end();
    this.socket.destroySoon();
  }
}
