/**
 * Asking every replica (issue 22): a query the admin API answers from this replica's memory alone
 * (connected proxies, load reports, traces) is sent on to the other live replicas with `local=1`,
 * and the answers are merged, so the CLI gets the same answer whichever replica it asks. Replicas
 * share the admin token (it lives in etcd), so the caller's token is the one to use.
 */
import { request } from 'node:http';

export interface PeerAnswer<T> {
  replica: string;
  body?: T;
  error?: string;
}

/** GETs `path` (with `local=1`) from each peer's admin API; never throws, at most `timeoutMs` each. */
export async function askPeers<T>(peers: ReadonlyArray<{ name: string; admin: string }>, path: string, token: string, timeoutMs = 3000): Promise<Array<PeerAnswer<T>>> {
  const sep = path.includes('?') ? '&' : '?';
  return Promise.all(
    peers.map(
      (p) =>
        new Promise<PeerAnswer<T>>((resolve) => {
          const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(p.admin);
          if (!m) return resolve({ replica: p.name, error: `admin address '${p.admin}' is not host:port` });
          const req = request({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]), path: `${path}${sep}local=1`, headers: { authorization: `Bearer ${token}` }, timeout: timeoutMs }, (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              size += c.length;
              if (size > 64 * 1024 * 1024) req.destroy(new Error('answer over 64 MiB'));
              else chunks.push(c);
            });
            res.on('error', (e) => resolve({ replica: p.name, error: e.message }));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              if (res.statusCode !== 200) return resolve({ replica: p.name, error: `HTTP ${res.statusCode}: ${text.slice(0, 200)}` });
              try {
                resolve({ replica: p.name, body: JSON.parse(text) as T });
              } catch (e) {
                resolve({ replica: p.name, error: `answer is not JSON: ${(e as Error).message}` });
              }
            });
          });
          req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
          req.on('error', (e) => resolve({ replica: p.name, error: e.message }));
          req.end();
        }),
    ),
  );
}
