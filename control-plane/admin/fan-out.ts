/**
 * Asking every replica (issue 22): a query the admin API answers from this replica's memory alone
 * (connected proxies, load reports, traces) is sent on to the other live replicas with `local=1`,
 * and the answers are merged, so the CLI gets the same answer whichever replica it asks.
 *
 * Replica to replica, the operator's admin token is never sent: the addresses come from records
 * in etcd, and anyone able to write one could otherwise collect the token. Each request carries
 * instead an HMAC (a key derived from the KEK every replica holds) over the asking replica, the
 * replica asked, the path and the time; a replica accepts it for read-only `local=1` queries
 * only, within 30 s. Each answer carries the answering replica's name and an HMAC over it, the
 * request and the body: an address that is not the replica its record names (a stale record, a
 * replica advertising 127.0.0.1 to others, or a forged record) is found out and its answer dropped.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { request } from 'node:http';

export interface PeerAnswer<T> {
  replica: string;
  body?: T;
  error?: string;
}

/** How replicas prove themselves to each other (derived from the KEK). */
export interface ReplicaAuth {
  /** This replica's name. */
  self: string;
  key: Buffer;
}

export function replicaAuthKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, 'weft', 'weft replica fan-out v1', 32));
}

const SCHEME = 'WeftReplica ';
const MAX_SKEW_MS = 30_000;

const mac = (key: Buffer, ...parts: string[]) => createHmac('sha256', key).update(parts.join('\n')).digest('base64url');
const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The Authorization header of a request from `auth.self` to replica `to` for `path`. */
export function replicaRequestHeader(auth: ReplicaAuth, to: string, path: string, now = Date.now()): string {
  return `${SCHEME}${auth.self}.${now}.${mac(auth.key, 'request', auth.self, to, path, String(now))}`;
}

/**
 * Checks a replica's request to this one; returns the asking replica's name and what to sign the
 * answer with, or undefined when the header is not a valid replica credential for this request.
 */
export function verifyReplicaRequest(auth: ReplicaAuth, header: string | undefined, method: string, path: string, now = Date.now()): { from: string; ts: string } | undefined {
  if (!header?.startsWith(SCHEME) || method !== 'GET') return undefined;
  const parts = header.slice(SCHEME.length).split('.');
  if (parts.length !== 3) return undefined;
  const [from, ts, got] = parts as [string, string, string];
  if (!/^\d{1,16}$/.test(ts) || Math.abs(now - Number(ts)) > MAX_SKEW_MS) return undefined;
  return same(got, mac(auth.key, 'request', from, auth.self, path, ts)) ? { from, ts } : undefined;
}

/** Headers proving an answer comes from this replica, for that request. */
export function replicaAnswerHeaders(auth: ReplicaAuth, path: string, ts: string, body: string): Record<string, string> {
  return { 'x-weft-replica': auth.self, 'x-weft-replica-mac': mac(auth.key, 'answer', auth.self, path, ts, createHash('sha256').update(body).digest('hex')) };
}

/** GETs `path` (with `local=1`) from each peer's admin API; never throws, at most `timeoutMs` each. */
export async function askPeers<T>(peers: ReadonlyArray<{ name: string; admin: string }>, path: string, auth: ReplicaAuth, timeoutMs = 3000): Promise<Array<PeerAnswer<T>>> {
  const sep = path.includes('?') ? '&' : '?';
  const full = `${path}${sep}local=1`;
  return Promise.all(
    peers.map(
      (p) =>
        new Promise<PeerAnswer<T>>((resolve) => {
          const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(p.admin);
          if (!m) return resolve({ replica: p.name, error: `admin address '${p.admin}' is not host:port` });
          const now = Date.now();
          let done = false;
          const finish = (a: PeerAnswer<T>) => {
            if (done) return;
            done = true;
            clearTimeout(deadline);
            resolve(a);
          };
          const req = request({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), path: full, headers: { authorization: replicaRequestHeader(auth, p.name, full, now) } }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > 64 * 1024 * 1024) req.destroy(new Error('answer over 64 MiB'));
              else chunks.push(c);
            });
            res.on('error', (e) => finish({ replica: p.name, error: e.message }));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if (res.statusCode !== 200) return finish({ replica: p.name, error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` });
              const who = res.headers['x-weft-replica'];
              const want = replicaAnswerHeaders({ ...auth, self: p.name }, full, String(now), text)['x-weft-replica-mac']!;
              if (who !== p.name || typeof res.headers['x-weft-replica-mac'] !== 'string' || !same(res.headers['x-weft-replica-mac'], want)) {
                return finish({ replica: p.name, error: `${p.admin} did not answer as replica ${p.name}${typeof who === 'string' ? ` (it says it is ${who})` : ''}: a stale or wrong address in its record (--advertise-host)` });
              }
              try {
                finish({ replica: p.name, body: JSON.parse(text) as T });
              } catch (e) {
                finish({ replica: p.name, error: `answer is not JSON: ${(e as Error).message}` });
              }
            });
          });
          // One deadline for the whole exchange (a peer trickling bytes does not hold the caller).
          const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
          req.on('error', (e) => finish({ replica: p.name, error: e.message }));
          req.end();
        }),
    ),
  );
}
