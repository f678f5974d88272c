// The registry binds an instance key to the identity that registered it; unauthenticated streams
// register nothing unless asked to. The process-level view of the same rules is
// test/integration/xds/registration.test.ts.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registry } from '../../../control-plane/registry/registry.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';

const ORDERS = 'spiffe://cluster.local/ns/default/sa/orders';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';

/** One stream's node: a fresh object per stream, as the xDS server makes them. */
const stream = (id: string, peerId: string | undefined, over: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  cluster: 'orders',
  role: 'sidecar',
  service: 'orders',
  namespace: 'default',
  instanceIp: '127.0.0.1',
  instancePort: 15006,
  labels: {},
  userAgent: 'test',
  ...(peerId ? { peerId } : {}),
  ...over,
});

const addresses = (r: Registry, service = 'orders') => r.endpoints('default', service).map((e) => e.address);

describe('Registry ownership', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('ignores unauthenticated registrations by default, and takes them with unauthenticated: register', () => {
    const closed = new Registry(1000);
    expect(closed.streamOpened(stream('p', undefined))).toMatchObject({ kind: 'ignored', key: 'p', reason: expect.stringMatching(/--xds-plaintext-register/) });
    expect(closed.list()).toEqual([]);
    const open = new Registry(1000, { unauthenticated: 'register' });
    expect(open.streamOpened(stream('p', undefined))).toEqual({ kind: 'registered', key: 'p' });
    expect(open.list()).toMatchObject([{ service: 'default/orders', streams: 1 }]);
    expect(open.list()[0]!.owner).toBeUndefined();
  });

  it('refuses another identity, or an unauthenticated stream, claiming an owned key, also during the grace period', () => {
    const r = new Registry(1000, { unauthenticated: 'register' });
    const owner = stream('o-1', ORDERS, { instanceIp: '10.0.0.1' });
    expect(r.streamOpened(owner)).toEqual({ kind: 'registered', key: 'o-1' });
    const web = r.streamOpened(stream('w', WEB, { service: 'web', instance: 'o-1', instanceIp: '10.0.0.9' }));
    expect(web).toEqual({ kind: 'refused', key: 'o-1', reason: `instance o-1 is registered by ${ORDERS}; this stream is ${WEB}` });
    const plain = stream('o-1', undefined, { instanceIp: '10.0.0.8' });
    expect(r.streamOpened(plain)).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/this stream is unauthenticated/) });
    r.streamClosed(plain); // a refused stream's close changes nothing
    expect(addresses(r)).toEqual(['10.0.0.1']);
    expect(addresses(r, 'web')).toEqual([]);
    r.streamClosed(owner);
    vi.advanceTimersByTime(500);
    expect(r.streamOpened(stream('o-1', WEB, { service: 'web' }))).toMatchObject({ kind: 'refused' });
    vi.advanceTimersByTime(500);
    expect(addresses(r)).toEqual([]); // left on time: nobody kept it alive
  });

  it('lets streams of the owning identity join, and only holders keep it alive or drain it', () => {
    const r = new Registry(1000);
    const first = stream('o-1', ORDERS);
    const second = stream('o-1', ORDERS, { instanceIp: '10.0.0.2' }); // the workload came back elsewhere
    r.streamOpened(first);
    expect(r.streamOpened(second)).toEqual({ kind: 'registered', key: 'o-1' });
    expect(addresses(r)).toEqual(['10.0.0.2']);
    r.streamClosed(first);
    vi.advanceTimersByTime(5000);
    expect(addresses(r)).toEqual(['10.0.0.2']);
    r.drained(stream('web-x', WEB, { service: undefined, instance: 'o-1' }));
    r.drained(stream('o-1', ORDERS)); // same identity, but not a stream that holds it
    expect(addresses(r)).toEqual(['10.0.0.2']);
    r.drained(second);
    expect(addresses(r)).toEqual([]);
  });

  it('hands an unowned instance to the first authenticated stream; its unauthenticated streams then count for nothing', () => {
    const r = new Registry(1000, { unauthenticated: 'register' });
    const plain1 = stream('o-1', undefined, { instanceIp: '10.0.0.8' });
    const plain2 = stream('o-1', undefined, { instanceIp: '10.0.0.8' });
    r.streamOpened(plain1);
    r.streamOpened(plain2);
    const owner = stream('o-1', ORDERS, { instanceIp: '10.0.0.1' });
    expect(r.streamOpened(owner)).toEqual({ kind: 'registered', key: 'o-1', tookOver: true });
    expect(r.list()).toMatchObject([{ owner: ORDERS, streams: 1, endpoint: { address: '10.0.0.1', mtls: true } }]);
    r.streamClosed(plain1, true); // would have removed it at once
    expect(addresses(r)).toEqual(['10.0.0.1']);
    r.streamClosed(owner);
    vi.advanceTimersByTime(1000);
    expect(addresses(r)).toEqual([]); // plain2, still open, did not keep it alive
    r.streamClosed(plain2);
  });

  it('keeps the owner across a restart (restore), and refuses others until it is gone', () => {
    const r = new Registry(1000);
    r.streamOpened(stream('o-1', ORDERS));
    const saved = r.list();
    const after = new Registry(1000);
    after.restore(saved);
    expect(after.streamOpened(stream('o-1', WEB, { service: 'web' }))).toMatchObject({ kind: 'refused' });
    expect(after.streamOpened(stream('o-1', ORDERS))).toEqual({ kind: 'registered', key: 'o-1' });
    vi.advanceTimersByTime(5000);
    expect(addresses(after)).toEqual(['127.0.0.1']);
  });
});
