// A Gateway listener on a port another process holds: the `weft gateway` process cannot execute
// it, so it NACKs the update with the listener, the address and the reason, and keeps its last
// good listeners serving (`weft proxy-status` shows NACKED and why). Once the port is free, the
// gateway binds it by itself (it tries the refused update again with back-off) and ACKs. Before,
// the update was ACKed, the listener left unbound with only a log line, and proxy-status said
// SYNCED; and then (a3c2f7e) the port freed stayed unserved until the next change of listeners.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startGateway, weft, weftApply, type ControlPlaneProc, type GatewayProc } from '../harness/processes.js';
import { edgeGateway, PLAINTEXT_MESH, service, upstream, type Upstream } from '../harness/sidecar.js';

/** The Gateway with a listener per port, named `${prefix}${i}` (a new prefix is a new listener set). */
const config = (ports: readonly number[], upstreamPort: number, prefix: string) => `${PLAINTEXT_MESH}---
${service('orders', [upstreamPort])}---
${edgeGateway(ports.map((port, i) => ({ name: `${prefix}${i}`, port })))}`;

describe('a Gateway listener whose port another process holds', () => {
  let cp: ControlPlaneProc;
  let gw: GatewayProc;
  let up: Upstream;
  let first: number;
  let taken: number;
  let holder: net.Server;

  const get = (port: number) => fetch(`http://127.0.0.1:${port}/`).then((r) => r.status, () => 0);

  beforeAll(async () => {
    [up, cp] = await Promise.all([upstream(), startControlPlane()]);
    first = await freePort();
    taken = await freePort();
    holder = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => holder.listen(taken, '127.0.0.1', r));
    expect((await weftApply(cp, config([first], up.port, 'a'), 'edge.yaml')).code).toBe(0);
    gw = await startGateway(cp.xdsPort, 'default/edge');
    await eventually(async () => ((await get(first)) === 200 ? true : undefined), 20_000, 100);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), cp?.kill(), up?.close(), new Promise((r) => holder?.close(r))]);
  });

  it('is NACKed with the listener, address and reason; the listeners before it keep serving; once free, it is bound and ACKed without a new update', async () => {
    expect((await weftApply(cp, config([first, taken], up.port, 'a'), 'edge.yaml')).code).toBe(0);
    const status = await eventually(async () => {
      const out = (await weft(['proxy-status'], { cp })).stdout;
      return /NACKED/.test(out) ? out : undefined;
    }, 20_000, 100);
    expect(status).toContain(`cannot bind 127.0.0.1:${taken}: the port is taken by another process (EADDRINUSE)`);
    expect(status).toMatch(/gateway\.\S*a1/);
    expect(await get(first)).toBe(200);

    // The port is free again: nothing is applied, the gateway's retry binds it (back-off 1 s doubling to 15 s) and ACKs.
    await new Promise((r) => holder.close(r));
    await eventually(async () => ((await get(taken)) === 200 ? true : undefined), 30_000, 100);
    const after = await eventually(async () => {
      const out = (await weft(['proxy-status'], { cp })).stdout;
      return /NACKED/.test(out) ? undefined : out;
    }, 10_000, 100);
    expect(after).toMatch(/SYNCED/);
    expect(await get(first)).toBe(200);
  });
});
