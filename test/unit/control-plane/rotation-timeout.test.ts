// The root-rotation step timeout (`--ca-rotation-step-timeout`, docs/security.md "Rotation"), on a
// fake clock: a real CA, and a mesh view where one sidecar never ACKs the new bundle nor renews.
// As documented, each step waits for the connected sidecars until the timeout has passed, then
// goes ahead and says so in the log (an offline sidecar must not block the mesh); until the last
// step the old root stays in the trust bundle. With every sidecar caught up, no step waits for it.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from '../../../common/log.js';
import { CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { RootRotation } from '../../../control-plane/ca/rotation.js';
import type { IdentityServer } from '../../../control-plane/ca/service.js';
import { tempDir } from '../../harness/processes.js';

const STEP_MS = 30_000;
/** Taken before the clock is faked: bounds the real-time waits for the CA's key and file work. */
const realSetTimeout = globalThis.setTimeout;
const clearRealTimeout = globalThis.clearTimeout;
/** How often a waiting step looks again (rotation.ts); it goes ahead within one of these after the timeout. */
const POLL_MS = 250;

interface Proxy {
  nodeId: string;
  role: string;
  types: { secret?: { state: string } };
}

interface Published {
  at: number;
  phase: string;
  roots: string[];
}

/** A RootRotation over a real CA, with a scriptable mesh view and a log that keeps every line. */
async function setup(proxies: Proxy[]) {
  const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
  const oldRoot = ca.roots()[0]!.fingerprint;
  const issued = new Map<string, { issuerFingerprint: string }>(proxies.map((p) => [p.nodeId, { issuerFingerprint: oldRoot }]));
  const warns: Array<{ obj: Record<string, unknown>; msg: string; at: number }> = [];
  const logger = {
    warn: (obj: Record<string, unknown>, msg: string) => warns.push({ obj, msg, at: Date.now() }),
    info: () => {},
  } as unknown as Logger;
  const published: Published[] = [];
  let onPublish: (() => void) | undefined;
  const rotation = new RootRotation({
    ca,
    identity: { issued } as unknown as IdentityServer,
    proxies: () => proxies,
    publishTrust: () => {
      published.push({ at: Date.now(), phase: ca.rotationPhase(), roots: ca.roots().map((r) => r.fingerprint) });
      onPublish?.();
    },
    logger,
    stepTimeoutMs: STEP_MS,
  });
  /**
   * Resolves once the rotation has published `n` bundles. The CA's key and file work runs on the
   * real clock, so this waits in real time, at most 10 s (a rotation stuck on the fake clock fails).
   */
  const published$ = (n: number) =>
    new Promise<Published>((resolve, reject) => {
      const t = realSetTimeout(() => reject(new Error(`the rotation did not publish bundle ${n} (step '${rotation.step}', phase ${ca.rotationPhase()}, ${warns.length} warnings)`)), 10_000);
      const check = () => {
        if (published.length >= n) {
          clearRealTimeout(t);
          resolve(published[n - 1]!);
        }
      };
      onPublish = check;
      check();
    });
  return { ca, oldRoot, issued, warns, rotation, published$ };
}

describe('root rotation step timeout', () => {
  beforeEach(() => {
    // Only timers and Date: the CA's crypto and file writes run as they are.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a step whose sidecars do not catch up goes ahead once the timeout has passed, logs it, and keeps the old root trusted until the last step', async () => {
    const proxies: Proxy[] = [
      { nodeId: 'web-1', role: 'sidecar', types: { secret: { state: 'SYNCED' } } },
      // Connected but never ACKs the new bundle (STALE: a response awaits its ACK).
      { nodeId: 'orders-1', role: 'sidecar', types: { secret: { state: 'STALE' } } },
    ];
    const { ca, oldRoot, issued, warns, rotation, published$ } = await setup(proxies);
    const done = rotation.start();

    // Step 1 (add): the new root is trusted after the old one, and the step starts waiting.
    const added = await published$(1);
    const newRoot = added.roots[1]!;
    expect(added).toMatchObject({ phase: 'added', roots: [oldRoot, newRoot] });
    expect(newRoot).not.toBe(oldRoot);
    // web-1 renews from the new root as soon as it signs; orders-1 never does.
    issued.set('web-1', { issuerFingerprint: newRoot });

    await vi.advanceTimersByTimeAsync(STEP_MS);
    // Until the timeout has passed: still waiting, nothing logged, the old root signs.
    expect(warns).toEqual([]);
    expect({ phase: ca.rotationPhase(), step: rotation.step, running: rotation.running }).toEqual({ phase: 'added', step: 'add', running: true });
    expect(ca.roots().map((r) => [r.fingerprint, r.signing])).toEqual([[oldRoot, true], [newRoot, false]]);

    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(warns).toEqual([{ obj: { step: 'add', waitedMs: STEP_MS }, msg: 'root rotation: not every proxy ACKed the new trust bundle in time; going ahead', at: added.at + STEP_MS + POLL_MS }]);

    // Step 2 (promote): the new root signs, the old one is still trusted, and the step waits again.
    const promoted = await published$(2);
    expect(promoted).toMatchObject({ phase: 'promoted', roots: [newRoot, oldRoot], at: added.at + STEP_MS + POLL_MS });
    await vi.advanceTimersByTimeAsync(STEP_MS);
    expect(warns).toHaveLength(1);
    expect({ phase: ca.rotationPhase(), step: rotation.step }).toEqual({ phase: 'promoted', step: 'promote' });
    expect(ca.roots().map((r) => r.fingerprint)).toEqual([newRoot, oldRoot]);

    await vi.advanceTimersByTimeAsync(POLL_MS);
    expect(warns[1]).toEqual({ obj: { step: 'promote', waitedMs: STEP_MS }, msg: 'root rotation: not every proxy renewed from the new root in time; going ahead', at: promoted.at + STEP_MS + POLL_MS });

    // Step 3 (finish): the old root leaves the bundle; the rotation is over.
    expect(await published$(3)).toMatchObject({ phase: 'none', roots: [newRoot] });
    await done;
    expect({ phase: ca.rotationPhase(), step: rotation.step, running: rotation.running }).toEqual({ phase: 'none', step: '', running: false });
    expect(warns).toHaveLength(2);
  });

  it('with every sidecar caught up no step waits for the timeout, and nothing is logged', async () => {
    const proxies: Proxy[] = [
      { nodeId: 'web-1', role: 'sidecar', types: { secret: { state: 'SYNCED' } } },
      { nodeId: 'orders-1', role: 'sidecar', types: { secret: { state: 'SYNCED' } } },
      // A proxyless client that never ACKs is not waited for (it holds no workload certificate).
      { nodeId: 'grpc-client', role: 'proxyless', types: { secret: { state: 'STALE' } } },
    ];
    const { ca, issued, warns, rotation, published$ } = await setup(proxies);
    const done = rotation.start();
    const added = await published$(1);
    for (const id of ['web-1', 'orders-1']) issued.set(id, { issuerFingerprint: added.roots[1]! });
    // Each step lets the push go out (1 s), sees everyone caught up, and goes on.
    await vi.advanceTimersByTimeAsync(1000);
    const promoted = await published$(2);
    expect(promoted.at - added.at).toBe(1000);
    await vi.advanceTimersByTimeAsync(1000);
    const finished = await published$(3);
    await done;
    expect(finished.at - added.at).toBe(2000);
    expect(warns).toEqual([]);
    expect(ca.roots().map((r) => r.fingerprint)).toEqual([added.roots[1]]);
  });
});
