// gRPC length-prefixed messages cut out of DATA however the reads fall (sidecar/xds/grpc-channel.ts
// MessageReader): any sequence of messages, split at any points, comes out whole, in order, each
// in a buffer of its own; a bad prefix is an error, never a message.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GrpcError, GrpcStatus, MessageReader } from '../../../sidecar/xds/grpc-channel.js';

function frame(m: Uint8Array, flags = 0): Buffer {
  const b = Buffer.alloc(5 + m.length);
  b[0] = flags;
  b.writeUInt32BE(m.length, 1);
  b.set(m, 5);
  return b;
}

/** `wire` cut at `cuts` (positions, any order, duplicates allowed). */
function split(wire: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...at, wire.length]) {
    out.push(wire.subarray(prev, c));
    prev = c;
  }
  return out;
}

function drain(r: MessageReader): Array<Buffer | GrpcError> {
  const out: Array<Buffer | GrpcError> = [];
  for (let m = r.next(); m !== undefined; m = r.next()) {
    out.push(m);
    if (m instanceof GrpcError) break;
  }
  return out;
}

describe('gRPC MessageReader', () => {
  it('any messages split at any points come out whole and in order', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (msgs, cuts) => {
        const wire = Buffer.concat(msgs.map((m) => frame(m)));
        const r = new MessageReader(1 << 20);
        const got: Buffer[] = [];
        for (const part of split(wire, cuts)) {
          r.push(part);
          for (const m of drain(r)) {
            if (m instanceof GrpcError) throw m;
            got.push(m);
          }
        }
        expect(got.map((b) => [...b])).toEqual(msgs.map((m) => [...m]));
        // A buffer of its own each (not a view of a read), and nothing left over.
        for (const b of got) if (b.length) expect(b.buffer.byteLength).toBe(b.length);
        expect(r.pending).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it('a stream cut inside a message is pending at its end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), (m, cut) => {
        const wire = frame(m);
        const r = new MessageReader(1 << 20);
        r.push(wire.subarray(0, 1 + (cut % (wire.length - 1))));
        expect(drain(r)).toEqual([]);
        expect(r.pending).toBe(true);
      }),
    );
  });

  it('compressed or unknown flags: INTERNAL; over the limit: RESOURCE_EXHAUSTED, before the body arrives', () => {
    const cases: Array<[Buffer, number]> = [
      [frame(Buffer.from('x'), 1), GrpcStatus.INTERNAL],
      [frame(Buffer.from('x'), 0x80), GrpcStatus.INTERNAL],
      [frame(Buffer.alloc(65)).subarray(0, 5), GrpcStatus.RESOURCE_EXHAUSTED],
    ];
    for (const [wire, code] of cases) {
      const r = new MessageReader(64);
      r.push(wire);
      const [e] = drain(r);
      expect(e).toBeInstanceOf(GrpcError);
      expect((e as GrpcError).code).toBe(code);
    }
    const ok = new MessageReader(64);
    ok.push(frame(Buffer.alloc(64, 1)));
    expect((drain(ok)[0] as Buffer).length).toBe(64);
  });
});
