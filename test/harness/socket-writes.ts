// What each write a socket hands to the kernel carries: one entry per _write or _writev (a
// writev's chunks joined), as latin1. Tests of how many writes a response or request takes.
import type { Socket } from 'node:net';

export function recordWrites(s: Socket): string[] {
  const writes: string[] = [];
  const latin1 = (chunk: Buffer | string, enc: BufferEncoding) => Buffer.from(chunk as string, typeof chunk === 'string' ? enc : undefined).toString('latin1');
  const own = s as unknown as {
    _write(d: Buffer | string, e: BufferEncoding, cb: (e?: Error) => void): void;
    _writev(ch: { chunk: Buffer | string; encoding: BufferEncoding }[], cb: (e?: Error) => void): void;
  };
  const { _write, _writev } = own;
  own._write = function (d, e, cb) {
    writes.push(latin1(d, e));
    _write.call(this, d, e, cb);
  };
  own._writev = function (ch, cb) {
    writes.push(ch.map((x) => latin1(x.chunk, x.encoding)).join(''));
    _writev.call(this, ch, cb);
  };
  return writes;
}
