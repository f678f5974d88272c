// What each write a socket hands to the kernel carries: one entry per _write or _writev (a
// writev's chunks joined), as latin1. Tests of how many writes a response or request takes.
import net, { type Socket } from 'node:net';

interface WriteMethods {
  _write(d: Buffer | string, e: BufferEncoding, cb: (e?: Error) => void): void;
  _writev(ch: { chunk: Buffer | string; encoding: BufferEncoding }[], cb: (e?: Error) => void): void;
}

const latin1 = (chunk: Buffer | string, enc: BufferEncoding) => Buffer.from(chunk as string, typeof chunk === 'string' ? enc : undefined).toString('latin1');

/** Records on `target` (a socket, or net.Socket.prototype) the writes of the sockets `mine` accepts. */
function record(target: WriteMethods, mine: (s: Socket) => boolean): { writes: string[]; restore: () => void } {
  const writes: string[] = [];
  const { _write, _writev } = target;
  target._write = function (this: Socket, d, e, cb) {
    if (mine(this)) writes.push(latin1(d, e));
    _write.call(this, d, e, cb);
  };
  target._writev = function (this: Socket, ch, cb) {
    if (mine(this)) writes.push(ch.map((x) => latin1(x.chunk, x.encoding)).join(''));
    _writev.call(this, ch, cb);
  };
  return {
    writes,
    restore: () => {
      target._write = _write;
      target._writev = _writev;
    },
  };
}

/** The writes of one socket. */
export function recordWrites(s: Socket): string[] {
  return record(s as unknown as WriteMethods, () => true).writes;
}

/** The writes of every socket `mine` accepts, including ones not created yet (a pool's); restore() undoes it. */
export function recordSocketWrites(mine: (s: Socket) => boolean): { writes: string[]; restore: () => void } {
  return record(net.Socket.prototype as unknown as WriteMethods, mine);
}
