// The sidecar's app-port probe (issue 23: a sidecar whose app had nothing listening said nothing):
// it logs "nothing is listening" once however many probes find the port closed, once more when the
// app comes up, and again when it goes; its state is what /ready reports.
import net from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { AppProbe } from '../../../sidecar/upstream/app-probe.js';
import { readyState, type AdminState } from '../../../sidecar/admin/server.js';
import { freePort, eventually } from '../../harness/processes.js';

function recordingLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { logger, lines };
}

let probe: AppProbe | undefined;
let server: net.Server | undefined;
afterEach(() => {
  probe?.close();
  server?.close();
});

describe('AppProbe', () => {
  it('warns once while the app port is closed, says when it opens, and warns again when it closes', async () => {
    const port = await freePort();
    const { logger, lines } = recordingLogger();
    probe = new AppProbe({ host: '127.0.0.1', port, everyMs: 20, logger }).start();
    await eventually(() => probe!.probes >= 5, 5000, 10);
    expect(probe.state).toEqual({ up: false, reason: 'connection refused' });
    const down = () => lines.filter((l) => l.msg.startsWith(`nothing is listening on the app port 127.0.0.1:${port} (connection refused)`));
    expect(down()).toHaveLength(1);
    expect(down()[0]!.level).toBe(40);

    server = net.createServer((s) => s.destroy()).listen(port, '127.0.0.1');
    await once(server, 'listening');
    await eventually(() => probe!.state.up === true, 5000, 10);
    const seen = probe.probes;
    await eventually(() => probe!.probes >= seen + 5, 5000, 10);
    expect(lines.filter((l) => l.msg.includes('accepts connections now'))).toHaveLength(1);

    await new Promise((r) => server!.close(r));
    await eventually(() => probe!.state.up === false, 5000, 10);
    expect(down()).toHaveLength(2);
  });

  it('an app seen up counts as down only after failureThreshold failed probes in a row (a refused connect under load is not an app gone)', async () => {
    const UP = { up: true, reason: '' };
    const DOWN = { up: false, reason: 'connection refused' };
    const script = [UP, DOWN, UP, DOWN, DOWN, DOWN];
    const seen: Array<boolean | undefined> = [];
    class Scripted extends AppProbe {
      // Each probe records the state the reports before it left.
      override probe() {
        seen.push(this.state.up);
        return Promise.resolve(script.shift() ?? DOWN);
      }
    }
    const { logger, lines } = recordingLogger();
    probe = new Scripted({ host: '127.0.0.1', port: 1, everyMs: 5, failureThreshold: 3, logger }).start();
    await eventually(() => seen.length >= 7, 2000, 5);
    expect(seen.slice(0, 7)).toEqual([undefined, true, true, true, true, true, false]);
    expect(lines.filter((l) => l.msg.startsWith('nothing is listening'))).toHaveLength(1);
  });

  it('/ready says NOT READY with the reason while the app is down, LIVE once it is up', () => {
    const state = (app: AppProbe['state']) =>
      ({ runtime: { ready: true }, draining: () => false, app: { state: app, address: '127.0.0.1:9' } }) as unknown as AdminState;
    expect(readyState(state({ up: false, reason: 'connection refused' }))).toEqual({ ok: false, text: 'NOT READY: nothing listening on the app port 127.0.0.1:9 (connection refused)' });
    expect(readyState(state({ up: true, reason: '' }))).toEqual({ ok: true, text: 'LIVE' });
    // Before the first probe answered: not LIVE yet.
    expect(readyState(state({ up: undefined, reason: '' }))).toEqual({ ok: false, text: 'NOT READY: checking the app port 127.0.0.1:9' });
  });
});
