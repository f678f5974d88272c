// The sidecar's HTTP/1.1 responses leave in as few socket writes as the event-loop turn allows
// (sidecar/http/write-batch.ts): a head with a large body, a chunk and its framing, and (while the
// loop is busy) responses written in one turn.
import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { H1Connection } from '../../../sidecar/http/h1-server.js';
import type { H1Downstream } from '../../../sidecar/http/h1-downstream.js';
import { recordWrites } from '../../harness/socket-writes.js';
import { answeringHooks } from '../../harness/h1-hooks.js';
import { closeLoopLoad, loopBusy, loopQuiet } from '../../harness/loop-load.js';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});
afterAll(closeLoopLoad);

/** A server answering with `handle`; `writes` records what each write to a client socket carried. */
async function serve(handle: (d: H1Downstream) => void) {
  const hooks = answeringHooks(handle);
  const writes: string[][] = [];
  const srv = net.createServer((s) => {
    writes.push(recordWrites(s));
    new H1Connection(s, hooks, { maxHeaderBytes: 8192, headersTimeoutMs: 30_000, keepAliveTimeoutMs: 60_000 });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  closers.push(() => srv.close());
  return { port: (srv.address() as net.AddressInfo).port, writes: () => writes.flat() };
}

/** Sends `req` on a new connection and resolves with everything received once `want` bytes came. */
async function fetchRaw(port: number, req: string, want: number): Promise<string> {
  const c = net.connect(port, '127.0.0.1');
  closers.push(() => c.destroy());
  let got = '';
  return new Promise((resolve, reject) => {
    c.on('error', reject);
    c.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length >= want) resolve(got);
    });
    c.write(req);
  });
}

describe('HTTP/1.1 response writes', () => {
  it('sends a head and a body too large to join it as a string in one write', async () => {
    const body = Buffer.alloc(6000, 'b');
    const { port, writes } = await serve((d) => {
      d.writeHead(200, { 'content-length': String(body.length), date: 'x' }, false);
      d.write(body);
      d.end(undefined);
    });
    const head = 'HTTP/1.1 200 OK\r\ncontent-length: 6000\r\ndate: x\r\n\r\n';
    expect(await fetchRaw(port, 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', head.length + body.length)).toBe(head + body.toString('latin1'));
    expect(writes()).toEqual([head + body.toString('latin1')]);
  });

  it('sends each large chunk of a chunked response with its size line and CRLF in one write, the first with the head, while the loop is quiet', async () => {
    await loopQuiet();
    const big = (c: string) => Buffer.alloc(3000, c);
    const { port, writes } = await serve((d) => {
      d.writeHead(200, { date: 'x' }, false);
      d.write(big('a'));
      d.write(big('b'));
      d.end(undefined);
    });
    const head = 'HTTP/1.1 200 OK\r\ndate: x\r\ntransfer-encoding: chunked\r\n\r\n';
    const chunk = (c: string) => `bb8\r\n${c.repeat(3000)}\r\n`;
    const want = [head + chunk('a'), chunk('b'), '0\r\n\r\n'];
    expect(await fetchRaw(port, 'GET / HTTP/1.1\r\nhost: a\r\n\r\n', want.join('').length)).toBe(want.join(''));
    expect(writes()).toEqual(want);
  });

  it('sends the pipelined responses finished in one turn in one write, in order, while the loop is busy', async () => {
    await loopBusy();
    const { port, writes } = await serve((d) => {
      d.writeHead(200, { 'content-length': String(d.path.length), date: 'x' }, false);
      d.write(Buffer.from(d.path));
      d.end(undefined);
    });
    const one = (p: string) => `HTTP/1.1 200 OK\r\ncontent-length: ${p.length}\r\ndate: x\r\n\r\n${p}`;
    const want = one('/a') + one('/b') + one('/c');
    const got = await fetchRaw(port, 'GET /a HTTP/1.1\r\nhost: a\r\n\r\nGET /b HTTP/1.1\r\nhost: a\r\n\r\nGET /c HTTP/1.1\r\nhost: a\r\n\r\n', want.length);
    expect(got).toBe(want);
    expect(writes()).toEqual([want]);
  });

  it('sends what was written before an abort in the same turn, then cuts the connection', async () => {
    const { port } = await serve((d) => {
      d.writeHead(200, { 'content-length': '10000', date: 'x' }, false);
      d.write(Buffer.alloc(4000, 'p')); // too large to join the head: written (held to the turn's end)
      d.abort(); // the upstream went away mid-body
    });
    const c = net.connect(port, '127.0.0.1');
    closers.push(() => c.destroy());
    let got = '';
    c.on('data', (b: Buffer) => (got += b.toString('latin1')));
    await new Promise<void>((resolve) => {
      c.on('close', () => resolve());
      c.on('error', () => {});
      c.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    });
    expect(got).toBe(`HTTP/1.1 200 OK\r\ncontent-length: 10000\r\ndate: x\r\n\r\n${'p'.repeat(4000)}`);
  });
});
