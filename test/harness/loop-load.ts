// Sets the event loop's measure in sidecar/http/write-batch.ts from a test: busy (more writes per
// turn than HOLD_TURN_AT, so a turn's writes are held to its end) or quiet (writes leave at once),
// by writing to loopback sockets of its own, turn after turn, as a loaded or an idle proxy would.
import net from 'node:net';
import { expect } from 'vitest';
import { HOLD_TURN_AT, holdingToTurnEnd, holdWrites } from '../../sidecar/http/write-batch.js';

const turn = () => new Promise((r) => setImmediate(r));
let server: net.Server | undefined;
const sockets: net.Socket[] = [];

/** 2 x HOLD_TURN_AT connected client sockets (their peers discard what they get). */
async function loadSockets(): Promise<net.Socket[]> {
  if (sockets.length) return sockets;
  const srv = (server = net.createServer((s) => {
    s.on('error', () => {});
    s.resume();
  }));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  for (let i = 0; i < 2 * HOLD_TURN_AT; i++) {
    const c = net.connect(port, '127.0.0.1');
    c.on('error', () => {});
    await new Promise<void>((r) => c.once('connect', r));
    sockets.push(c);
  }
  return sockets;
}

/** 2 x HOLD_TURN_AT writes per turn for 60 turns: the loop counts as busy (its average ends near 2 x HOLD_TURN_AT). */
export async function loopBusy(): Promise<void> {
  const socks = await loadSockets();
  for (let i = 0; i < 60; i++) {
    for (const c of socks) {
      holdWrites(c);
      c.write('x');
    }
    await turn();
  }
  expect(holdingToTurnEnd()).toBe(true);
}

/** One write per turn until the loop counts as quiet; the turns it took. */
export async function loopQuiet(): Promise<number> {
  const c = (await loadSockets())[0]!;
  let turns = 0;
  for (; turns < 500 && holdingToTurnEnd(); turns++) {
    holdWrites(c);
    c.write('y');
    await turn();
  }
  expect(holdingToTurnEnd()).toBe(false);
  return turns;
}

/** Closes the sockets and the server (afterAll). */
export function closeLoopLoad(): void {
  for (const c of sockets.splice(0)) c.destroy();
  server?.close();
  server = undefined;
}
