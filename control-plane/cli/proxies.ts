/**
 * Naming a proxy the way operators think of it: `weft proxy-config orders` or `weft proxy-status
 * web-7f` rather than a full node id. A query matches a proxy whose node id it is, whose service it
 * names (`orders` or `orders.shop`), or whose node id starts with it.
 */
import { WeftError } from '../../common/errors.js';
import type { ProxyStatusJson } from '../admin/proxy-status.js';
import type { AdminClient } from './context.js';

export interface ProxyList {
  items: ProxyStatusJson[];
  /** The control plane asked is one of several replicas on etcd. */
  replicas?: boolean;
  unreachable?: Record<string, string>;
}

export function listProxies(client: AdminClient): Promise<ProxyList> {
  return client.request<ProxyList>('GET', '/v1/proxies');
}

/**
 * The proxies `query` names, in tiers: an exact node id; else the proxies of the service it names;
 * else those whose node id starts with it (so `orders` is the orders service even when another
 * proxy's id, `orders-db-1`, starts with it).
 */
export function matchProxies(items: readonly ProxyStatusJson[], query: string): ProxyStatusJson[] {
  const exact = items.filter((p) => p.nodeId === query);
  if (exact.length) return exact;
  const service = items.filter((p) => p.service !== undefined && (p.service === query || `${p.service}.${p.namespace}` === query));
  if (service.length) return service;
  return items.filter((p) => p.nodeId.startsWith(query));
}

const describe = (p: ProxyStatusJson) => `${p.nodeId}${p.service ? ` (${p.service}.${p.namespace})` : ''}`;

/**
 * The one proxy `query` names, for a verb that shows one proxy. None matching: the query is used
 * as a node id as given (the control plane says whether it knows it). Several: an error listing them.
 */
export async function resolveProxy(client: AdminClient, query: string): Promise<string> {
  const found = matchProxies((await listProxies(client)).items, query);
  if (found.length === 1) return found[0]!.nodeId;
  if (found.length === 0) return query;
  const shown = found.slice(0, 10).map(describe).join(', ');
  throw new WeftError('CLI_USAGE', `'${query}' matches ${found.length} proxies: ${shown}${found.length > 10 ? ', ...' : ''}; name one by its node id (see \`weft proxy-status ${query}\`)`);
}
