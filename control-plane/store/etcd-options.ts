/**
 * How to reach the etcd store (`--store etcd://...` and its TLS and auth flags): kept apart from
 * etcd-store.ts so the CLI can check the flags without loading the etcd client.
 */
import { WeftError } from '../../common/errors.js';

/** Where the store is and how to reach it: `etcd://host:port,host:port` plus TLS and auth. */
export interface EtcdStoreOptions {
  /** host:port of each member (the client balances and fails over between them). */
  endpoints: readonly string[];
  /** Key prefix (default `/weft`): several meshes may share one etcd. */
  prefix?: string;
  /** TLS to etcd: the CA that signed its certificates, and a client certificate when etcd asks. */
  tls?: { caPem: string; certPem?: string; keyPem?: string };
  /** etcd user authentication. */
  auth?: { username: string; password: string };
  /**
   * How long one member is waited for in one attempt of a call (default 2500 ms, and 1 ms more per
   * operation of a transaction); a call that gets no answer tries the other members, then the
   * store is unavailable.
   */
  timeoutMs?: number;
  /**
   * The most operations etcd takes in one transaction: its --max-txn-ops (default 128). An apply
   * writes one key per resource, so larger applies are refused up front with STORE_LIMIT.
   */
  maxTxnOps?: number;
}

/** `etcd://a:2379,b:2379` -> ['a:2379', 'b:2379']; refuses anything else with the reason. */
export function parseEtcdUrl(url: string): string[] {
  const m = /^etcd:\/\/([^/?#]+)\/?$/.exec(url);
  if (!m) throw new WeftError('CLI_USAGE', `--store: '${url}' is not etcd://host:port[,host:port...]`);
  const hosts = m[1]!.split(',');
  for (const h of hosts) if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(h)) throw new WeftError('CLI_USAGE', `--store: '${h}' is not host:port`);
  return hosts;
}


/** Waits for `p` at most `ms`: closing an etcd client or watch must not hang on an etcd that is gone. */
export async function bounded(p: Promise<unknown> | undefined, ms = 1000): Promise<void> {
  if (!p) return;
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}
