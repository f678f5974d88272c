/**
 * Keeps an etcd lease alive when the connection its keepalive stream runs on goes silent.
 *
 * The etcd3 client's Lease sends a keepalive each TTL/3 on one stream and gives that stream up only
 * after a whole TTL without an answer: about when etcd itself expires the lease. So a member that
 * stopped answering without closing its connection (a network partition, a paused process) made a
 * healthy replica lose its lease, and with it its registry records (its instances' endpoints left
 * every replica until they were written again) or its candidacy. This watches the answers: once
 * one is overdue, it renews the lease with one-off keepalives on new streams, one each 500 ms
 * (TTL/10 when shorter: about five before etcd would expire it), each through the client's member
 * choice (which skips a member that just failed), until one is answered. The lease's own stream is left to the client:
 * it moves to another member when a TTL passed without answers (or gRPC keepalive closed its
 * connection), the lease still alive.
 */
import type { Lease } from 'etcd3';

/** Starts guarding `lease` (TTL `ttlMs`); stops by itself when the lease is revoked, released or lost. */
export function guardLease(lease: Lease, ttlMs: number): void {
  let last = Date.now();
  let inFlight = 0;
  const answered = () => {
    last = Date.now();
  };
  lease.on('keepaliveSucceeded', answered);
  // The client's stream answers each TTL/3; an answer is overdue a second after that (or at half
  // the TTL, when that is sooner), which still leaves time for a few renewals before etcd expires it.
  const overdueMs = Math.min(ttlMs / 3 + 1000, ttlMs / 2);
  // About five renewals, each on a member the client picks, before etcd would expire the lease.
  const everyMs = Math.min(500, ttlMs / 10);
  const timer = setInterval(() => {
    if (lease.revoked()) {
      clearInterval(timer);
      lease.off('keepaliveSucceeded', answered);
      return;
    }
    if (Date.now() - last < overdueMs || inFlight >= 6) return;
    inFlight++;
    lease
      .keepaliveOnce({ deadline: Date.now() + Math.max(everyMs * 4, 1000) })
      .then(answered, () => undefined)
      .finally(() => inFlight--);
  }, everyMs);
  timer.unref();
}
