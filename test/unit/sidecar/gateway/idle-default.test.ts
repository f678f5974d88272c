// A listener's default keep-alive timeout (no ClientTrafficPolicy sets one) closes idle
// connections as housekeeping: not counted as a limit rejection, not reported as a limit event.
// With a policy's idleTimeout, the same close is both.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpListener, type ListenerContext } from '../../../../sidecar/listeners/http-listener.js';
import type { DownstreamLimits } from '../../../../sidecar/xds/types/listener.js';

function idleClose(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', reject);
    s.on('close', () => resolve());
  });
}

describe('idle closes and the limit counters', () => {
  let l: HttpListener | undefined;
  afterEach(() => l?.close());

  it.each([
    ['the default keep-alive timeout', undefined, 0, 0],
    ["a ClientTrafficPolicy's idleTimeout", { idleTimeoutMs: 150 } as DownstreamLimits, 1, 1],
  ] as const)('%s', async (_what, limits, counted, reported) => {
    const events: unknown[] = [];
    const ctx: ListenerContext = { chain: () => undefined, limits: () => limits };
    l = new HttpListener({ name: 'gateway.web', host: '127.0.0.1', port: 0, keepAliveTimeoutMs: 150, onLimit: (e) => events.push(e) }, ctx);
    const { port } = await l.listen();
    // The connection sends nothing: the listener closes it (the event the test waits on).
    await idleClose(port);
    expect(l.stats.limits.idleTimeout).toBe(counted);
    expect(events.length).toBe(reported);
  });
});
