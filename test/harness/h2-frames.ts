/** Raw HTTP/2 frames and header blocks for tests that play a peer byte by byte (RFC 9113 4.1). */
import type { Socket } from 'node:net';
import { encodeField, encodedBound } from '../../sidecar/h2/hpack.js';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame: 9-byte header and payload. */
export function fr(type: number, flags: number, id: number, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** A header block of [name, value, ...] (static indexes and plain literals, no table state). */
export function block(list: string[]): Buffer {
  let size = 0;
  for (let i = 0; i < list.length; i += 2) size += encodedBound(list[i]!, list[i + 1]!);
  const b = Buffer.alloc(size);
  let at = 0;
  for (let i = 0; i < list.length; i += 2) at = encodeField(b, at, list[i]!, list[i + 1]!);
  return b.subarray(0, at);
}

export const SETTINGS = fr(4, 0, 0);

/** One frame as a test peer reads it. */
export interface ReadFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/**
 * Reads a connection's frames as a test peer: calls `onFrame` for each whole frame as it arrives
 * (frames split over reads are joined). A server peer first skips the client preface
 * (`clientPreface`, the default); a client peer reading a server has none to skip.
 */
export function readFrames(sock: Socket, onFrame: (f: ReadFrame) => void, clientPreface = true): void {
  let buf = Buffer.alloc(0);
  let preface = !clientPreface;
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (!preface) {
      if (buf.length < PREFACE.length) return;
      buf = buf.subarray(PREFACE.length);
      preface = true;
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) break;
      const f = { type: buf[3]!, flags: buf[4]!, id: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
      buf = buf.subarray(9 + len);
      onFrame(f);
    }
  });
}
