// ReplayableBody (sidecar/http/body.ts): the request body an Exchange sends, replayed to a retry.
// pipe() pushes to a sink with backpressure (the h2 path), attempt() iterates (the h1 pool),
// follow() shadows for mirrors. Checked against a real Readable: every attempt gets the whole body
// in order, the downstream is read only while someone wants more, a body past the limit is not
// replayable, and a cut downstream fails the attempt.
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayableBody, type BodyPipe } from '../../../sidecar/http/body.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

/** A sink that records what it got; `room` chunks are taken before it says it is full. */
function sink(room = Infinity) {
  const got: Buffer[] = [];
  const s = {
    got,
    ended: false,
    failed: undefined as Error | undefined,
    room,
    write(c: Buffer) {
      got.push(c);
      return --s.room > 0;
    },
    end() {
      s.ended = true;
    },
    fail(e: Error) {
      s.failed = e;
    },
    text: () => Buffer.concat(got).toString(),
  };
  return s;
}

describe('ReplayableBody.pipe', () => {
  it('pushes the whole body, then the end', async () => {
    const src = new PassThrough();
    const body = new ReplayableBody(src);
    const s = sink();
    body.pipe(s);
    src.write('ab');
    src.write('cd');
    src.end('e');
    await tick();
    expect([s.text(), s.ended, s.failed, body.complete, body.bytes]).toEqual(['abcde', true, undefined, true, 5]);
  });

  it('does not read the downstream while the sink is full, and goes on after resume()', async () => {
    const src = new PassThrough({ highWaterMark: 4 });
    const body = new ReplayableBody(src);
    const s = sink(1);
    const pipe: BodyPipe = body.pipe(s);
    src.write('1111');
    await tick();
    expect(s.text()).toBe('1111');
    // Full: further writes stay in the downstream (its buffer fills: backpressure to the client).
    const accepted = [src.write('2222'), src.write('3333'), src.write('4444')];
    await tick();
    expect(s.text()).toBe('1111');
    expect(body.bytes).toBe(4);
    expect(accepted.includes(false)).toBe(true);
    s.room = Infinity;
    pipe.resume();
    src.end();
    await tick();
    expect([s.text(), s.ended]).toEqual(['1111222233334444', true]);
  });

  it('a retry gets the body again from the start; the older attempt stops', async () => {
    const src = new PassThrough();
    const body = new ReplayableBody(src);
    const first = sink();
    body.pipe(first);
    src.write('hello ');
    await tick();
    const second = sink();
    body.pipe(second);
    src.end('world');
    await tick();
    expect(first.text()).toBe('hello ');
    expect(first.ended).toBe(false);
    expect([second.text(), second.ended]).toEqual(['hello world', true]);
    expect(body.replayable).toBe(true);
  });

  it('past the limit the body is not replayable, and a retry fails rather than sending a part', async () => {
    const src = new PassThrough();
    const body = new ReplayableBody(src, 8);
    const first = sink();
    body.pipe(first);
    src.write('0123456789');
    src.end('ab');
    await tick();
    expect([first.text(), first.ended, body.replayable]).toEqual(['0123456789ab', true, false]);
    const second = sink();
    body.pipe(second);
    expect(second.got).toEqual([]);
    expect(second.failed?.message).toMatch(/too large to replay/);
  });

  it('a downstream that errors or closes before its end fails the attempt', async () => {
    for (const cut of ['error', 'close'] as const) {
      const src = new PassThrough();
      const body = new ReplayableBody(src);
      const s = sink();
      body.pipe(s);
      src.write('part');
      await tick();
      if (cut === 'error') src.destroy(new Error('client reset'));
      else src.destroy();
      await tick();
      expect(s.text()).toBe('part');
      expect(s.ended).toBe(false);
      expect(s.failed?.message).toBe(cut === 'error' ? 'client reset' : 'Premature close');
      expect(body.replayable).toBe(false);
    }
  });

  it('an empty body ends at once', async () => {
    const body = new ReplayableBody(Readable.from([]));
    const s = sink();
    body.pipe(s);
    await tick();
    expect([s.got.length, s.ended, body.complete]).toEqual([0, true, true]);
  });

  it('property: every attempt gets the whole body in order, whatever the chunking, sink room and retry points', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 20 }), { maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 12 }),
        async (chunks, rooms, retryAfter) => {
          const src = new PassThrough();
          const body = new ReplayableBody(src, 1 << 20);
          const want = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          let s = sink(rooms[0]!);
          let pipe = body.pipe(s);
          for (let k = 0; k < chunks.length; k++) {
            if (k === retryAfter) {
              s = sink(rooms[k % rooms.length]!);
              pipe = body.pipe(s);
            }
            src.write(Buffer.from(chunks[k]!));
            await tick();
            if (s.room <= 0) {
              s.room = rooms[k % rooms.length]!;
              pipe.resume();
            }
          }
          src.end();
          for (let n = 0; n < 50 && !s.ended; n++) {
            await tick();
            s.room = Infinity;
            pipe.resume();
          }
          expect(s.ended).toBe(true);
          expect(Buffer.concat(s.got).equals(want)).toBe(true);
        },
      ),
      { numRuns: 150, seed: 24 },
    );
  });
});

describe('ReplayableBody.attempt and follow', () => {
  it('attempt() iterates the body; a second attempt replays it; a follower sees what was read', async () => {
    const src = Readable.from([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')]);
    const body = new ReplayableBody(src);
    const followed = (async () => {
      const out: string[] = [];
      for await (const c of body.follow()) out.push(c.toString());
      return out.join('');
    })();
    const read = async () => {
      const out: string[] = [];
      for await (const c of body.attempt()) out.push(c.toString());
      return out.join('');
    };
    expect(await read()).toBe('abc');
    expect(await read()).toBe('abc');
    expect(await followed).toBe('abc');
  });

  it('the downstream is not read before an attempt asks', async () => {
    let reads = 0;
    const src = new Readable({ read() { reads++; this.push(reads < 3 ? Buffer.from('x') : null); } });
    const body = new ReplayableBody(src);
    await tick();
    const before = body.bytes;
    const s = sink();
    body.pipe(s);
    await tick();
    expect(before).toBe(0);
    expect([s.text(), s.ended]).toEqual(['xx', true]);
  });
});
