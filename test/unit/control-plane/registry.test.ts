import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Registry } from '../../../control-plane/registry/registry.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';

const node = (id: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  cluster: 'orders',
  role: 'sidecar',
  service: 'orders',
  namespace: 'default',
  instanceIp: '127.0.0.1',
  instancePort: 15006,
  labels: { version: 'v1' },
  userAgent: 'test',
  // Registered over TLS: unauthenticated streams register nothing by default (registry-ownership.test.ts).
  peerId: 'spiffe://cluster.local/ns/default/sa/orders',
  ...over,
});

describe('Registry', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('registers an instance from node metadata and tells listeners which service changed', () => {
    const r = new Registry(1000);
    const changes: string[][] = [];
    r.onChange((s) => changes.push([...s]));
    r.streamOpened(node('a'));
    expect(r.endpoints('default', 'orders')).toMatchObject([{ address: '127.0.0.1', port: 15006, labels: { version: 'v1' }, nodeId: 'a', healthy: true }]);
    expect(changes).toEqual([['default/orders']]);
  });

  it('ignores nodes that register nothing (proxyless clients)', () => {
    const r = new Registry(1000);
    r.streamOpened(node('c', { role: 'proxyless', service: undefined }));
    expect(r.list()).toEqual([]);
  });

  it('keeps an instance for the grace period after its stream closes, and forgets it after', () => {
    const r = new Registry(1000);
    const a = node('a'); // one object per stream, as the xDS server passes it
    r.streamOpened(a);
    r.streamClosed(a);
    vi.advanceTimersByTime(999);
    expect(r.endpoints('default', 'orders')).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(r.endpoints('default', 'orders')).toHaveLength(0);
  });

  it('cancels the leave when the proxy reconnects within the grace period', () => {
    const r = new Registry(1000);
    const a = node('a');
    r.streamOpened(a);
    r.streamClosed(a);
    vi.advanceTimersByTime(500);
    const rev = r.revision;
    r.streamOpened(node('a'));
    vi.advanceTimersByTime(5000);
    expect(r.endpoints('default', 'orders')).toHaveLength(1);
    expect(r.revision).toBe(rev); // same endpoint: no change pushed
  });

  it('holds the workers of one sidecar (--workers N, shared WEFT_INSTANCE) as one endpoint until the last stream closes', () => {
    const r = new Registry(1000);
    const w1 = node('gw~w1', { instance: 'gw' });
    const w2 = node('gw~w2', { instance: 'gw' });
    r.streamOpened(w1);
    r.streamOpened(w2);
    expect(r.endpoints('default', 'orders')).toMatchObject([{ nodeId: 'gw' }]);
    r.streamClosed(w1); // a worker crashed: the others still serve the shared listeners
    vi.advanceTimersByTime(5000);
    expect(r.endpoints('default', 'orders')).toHaveLength(1);
    r.streamClosed(w2, true);
    expect(r.endpoints('default', 'orders')).toHaveLength(0);
  });

  it('marks unhealthy and removes on request', () => {
    const r = new Registry(1000);
    r.streamOpened(node('a'));
    r.setHealthy('a', false);
    expect(r.endpoints('default', 'orders')[0]!.healthy).toBe(false);
    r.remove('a');
    expect(r.endpoints('default', 'orders')).toEqual([]);
  });
});
