// holdWrites: while the loop is busy, the writes a socket gets in one event-loop turn leave
// together at the turn's end, in order, and nothing is lost or stuck (end, destroy, the next turn);
// while it is quiet, every write leaves at once; how the loop turns busy and quiet. Real loopback
// sockets.
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { HOLD_TURN_AT, countedTurns, holdingToTurnEnd, holdToTurnEnd, holdWrites } from '../../../sidecar/http/write-batch.js';
import { recordWrites } from '../../harness/socket-writes.js';
import { closeLoopLoad, loopBusy, loopQuiet } from '../../harness/loop-load.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});
afterAll(closeLoopLoad);

/** A connected pair: `c` (the side under test) and what its peer has received so far. */
async function pair(): Promise<{ c: net.Socket; got: () => string; ended: Promise<void>; writes: string[] }> {
  let peer!: net.Socket;
  const srv = net.createServer((s) => (peer = s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const c = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
  c.on('error', () => {});
  await new Promise<void>((r) => c.once('connect', r));
  while (!peer) await new Promise((r) => setImmediate(r));
  peer.on('error', () => {});
  let data = '';
  peer.on('data', (d: Buffer) => (data += d.toString('latin1')));
  const ended = new Promise<void>((r) => peer.once('end', r));
  const writes = recordWrites(c);
  cleanup.push(() => {
    c.destroy();
    peer.destroy();
    srv.close();
  });
  return { c, got: () => data, ended, writes };
}

const turn = () => new Promise((r) => setImmediate(r));
async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !f(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(f()).toBe(true);
}

describe('holdWrites while the loop is busy', () => {
  it('sends the writes of one turn as one write once the turn is over', async () => {
    const { c, got, writes } = await pair();
    await loopBusy();
    holdWrites(c);
    c.write('HTTP/1.1 200 OK\r\n', 'latin1');
    holdWrites(c); // a second hold in the same turn changes nothing
    c.write(Buffer.from('content-length: 2\r\n\r\n'));
    c.write('ok', 'latin1');
    expect(writes).toEqual([]);
    expect(c.writableLength).toBe(40);
    await turn();
    expect(writes).toEqual(['HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok']);
    await until(() => got().length === 40);
    expect(got()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
  });

  it('holds again in the next turn, and a write without a hold is not held', async () => {
    const { c, got, writes } = await pair();
    await loopBusy();
    holdWrites(c);
    c.write('a');
    await turn();
    expect(c.writableCorked).toBe(0);
    c.write('b'); // no hold: out at once
    expect(writes).toEqual(['a', 'b']);
    holdWrites(c);
    c.write('c');
    c.write('d');
    expect(writes).toEqual(['a', 'b']);
    await turn();
    expect(writes).toEqual(['a', 'b', 'cd']);
    await until(() => got() === 'abcd');
  });

  it('keeps order with its owner\'s own cork and end(): end sends what is held at once', async () => {
    const { c, got, ended, writes } = await pair();
    await loopBusy();
    holdWrites(c);
    c.write('1');
    c.cork(); // an owner corking around a few writes (the h1 pool's chunk writes)
    c.write('2');
    c.uncork();
    expect(writes).toEqual([]);
    c.end('3');
    await ended;
    expect(got()).toBe('123');
    await turn(); // the release finds the socket uncorked and ended: nothing more, no error
    expect(writes).toEqual(['123']);
  });

  it('releases every socket held in a turn, also when one of them was destroyed meanwhile', async () => {
    const a = await pair();
    const b = await pair();
    const d = await pair();
    await loopBusy();
    holdWrites(a.c);
    holdWrites(b.c);
    holdWrites(d.c);
    a.c.write('to a');
    b.c.write('to b');
    d.c.write('to d');
    b.c.destroy();
    await turn();
    await until(() => a.got() === 'to a' && d.got() === 'to d');
    expect(b.writes).toEqual([]);
  });
});

describe('holdWrites while the loop is quiet', () => {
  it('lets every write leave at once', async () => {
    const { c, got, writes } = await pair();
    await loopQuiet();
    const before = writes.length;
    for (let i = 0; i < 3; i++) {
      holdWrites(c);
      c.write(`w${i}`);
      expect(writes.length).toBe(before + i + 1); // out before the next write
    }
    await until(() => got().endsWith('w2'));
  });

  it('holds to the turn\'s end what holdToTurnEnd asks to hold, quiet or not', async () => {
    const { c, got, writes } = await pair();
    await loopQuiet();
    const before = writes.length;
    holdToTurnEnd(c);
    c.write('head;');
    c.write('body');
    expect(writes.length).toBe(before);
    await turn();
    expect(writes.slice(before)).toEqual(['head;body']);
    expect(holdingToTurnEnd()).toBe(false);
    await until(() => got().endsWith('head;body'));
  });

  it('counts a sample of the turns (one per 8-23 writes), not every turn that writes', async () => {
    const { c } = await pair();
    await loopQuiet();
    await turn();
    const before = countedTurns();
    for (let i = 0; i < 64; i++) {
      holdWrites(c);
      c.write('q');
      await turn();
    }
    const n = countedTurns() - before;
    expect(n).toBeGreaterThanOrEqual(2); // 64 writes: at least one sample per 23 writes after the first
    expect(n).toBeLessThanOrEqual(9); // and at most one per 8 (+1: one sampled before this loop)
    expect(holdingToTurnEnd()).toBe(false);
  });

  it(`turns busy when more than ${HOLD_TURN_AT} writes are made per turn, and quiet again at one a turn`, async () => {
    await loopQuiet();
    await loopBusy();
    const turns = await loopQuiet();
    // From near 2 x HOLD_TURN_AT down to HOLD_TURN_AT at 1/16 per turn: ~11 turns.
    expect(turns).toBeGreaterThan(5);
    expect(turns).toBeLessThan(40);
  });

  it('counts writes, not sockets: many writes to one socket per turn make it busy too', async () => {
    const { c } = await pair();
    await loopQuiet();
    let turns = 0;
    for (; turns < 100 && !holdingToTurnEnd(); turns++) {
      for (let i = 0; i < 4 * HOLD_TURN_AT; i++) {
        holdWrites(c);
        c.write('z');
      }
      await turn();
    }
    expect(holdingToTurnEnd()).toBe(true);
    expect(turns).toBeLessThan(40);
    await loopQuiet();
  });
});
