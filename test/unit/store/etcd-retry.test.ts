// The etcd client's call policy (etcdClientOptions): when every member's circuit is open (one
// stopped, another silent through an election), the call waits for the backoff and tries again
// instead of failing at once with the first attempt's error.
import { BrokenCircuitError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { etcdClientOptions } from '../../../control-plane/store/etcd-store.js';

describe('etcd call policy', () => {
  it('every circuit open: tried again after the backoff, and the call succeeds once a member takes it', async () => {
    const policy = etcdClientOptions({ endpoints: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'] }).faultHandling!.global!;
    let calls = 0;
    const answer = await policy.execute(async () => {
      if (++calls <= 2) throw new BrokenCircuitError();
      return 'committed';
    });
    expect([answer, calls]).toEqual(['committed', 3]);
  });

  it('an error that is not about reaching etcd is not tried again', async () => {
    const policy = etcdClientOptions({ endpoints: ['127.0.0.1:1'] }).faultHandling!.global!;
    let calls = 0;
    await expect(policy.execute(async () => {
      calls++;
      throw new Error('etcdserver: requested lease not found');
    })).rejects.toThrow(/lease not found/);
    expect(calls).toBe(1);
  });
});
