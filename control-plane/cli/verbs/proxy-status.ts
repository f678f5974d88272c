/** `weft proxy-status`: every connected proxy and, per resource type, SYNCED / STALE / NACKED. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, type Verb } from '../context.js';
import type { ProxyStatusJson } from '../../admin/proxy-status.js';

const usage = `Usage: weft proxy-status [-o table|json]

Lists connected proxies (Weft sidecars, gRPC proxyless clients, Envoy) with the sync state of each
xDS resource type: SYNCED (acknowledged the latest version), STALE (sent, not yet acknowledged),
NACKED (rejected; the message says why, and the proxy keeps its last good config).

${CLIENT_USAGE}`;

const COLS = ['cluster', 'endpoint', 'listener', 'route', 'secret'] as const;

export const proxyStatus: Verb = {
  name: 'proxy-status',
  summary: 'show the xDS sync state of every connected proxy',
  usage,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { ...CLIENT_OPTIONS, output: { type: 'string', short: 'o', default: 'table' } } });
    const { items } = await new AdminClient(values).request<{ items: ProxyStatusJson[] }>('GET', '/v1/proxies');
    if (values.output === 'json') {
      io.out(JSON.stringify(items, null, 2));
      return 0;
    }
    if (items.length === 0) {
      io.out('no proxies connected');
      return 0;
    }
    const rows = items.map((p) => [
      p.nodeId,
      p.service ? `${p.service}.${p.namespace}` : '-',
      `${p.role}/${p.stream}`,
      ...COLS.map((k) => {
        const t = p.types[k];
        return t ? `${t.state}${t.state === 'NACKED' ? '' : ''}` : '-';
      }),
    ]);
    io.out(table(['PROXY', 'SERVICE', 'KIND', 'CDS', 'EDS', 'LDS', 'RDS', 'SDS'], rows));
    for (const p of items) {
      for (const k of COLS) {
        const t = p.types[k];
        if (t?.state === 'NACKED') {
          io.out(`\n${p.nodeId} NACKED ${k} version ${t.nackedVersion ?? '?'} (last good ${t.ackedVersion ?? 'none'}): ${t.nackMessage ?? ''}`);
        }
      }
    }
    return 0;
  },
};
