/** `weft proxy-status`: every connected proxy and, per resource type, SYNCED / STALE / NACKED. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, type Verb } from '../context.js';
import { warnUnreachable } from '../replicas-warn.js';
import type { ProxyStatusJson } from '../../admin/proxy-status.js';

const usage = `Usage: weft proxy-status [-o table|json]

Lists connected proxies (Weft sidecars, gRPC proxyless clients, Envoy) with the sync state of each
xDS resource type: SYNCED (acknowledged the latest version), STALE (sent, not yet acknowledged),
NACKED (rejected; the message says why, and the proxy keeps its last good config). REVISION is
the configuration revision its current config was built from (on etcd: the etcd revision of
that commit, the same on every replica). With several
control-plane replicas (on etcd) the replica asked lists every replica's proxies, with a REPLICA
column saying which one each proxy is connected to.

${CLIENT_USAGE}`;

const COLS = ['cluster', 'endpoint', 'listener', 'route', 'secret'] as const;

export const proxyStatus: Verb = {
  name: 'proxy-status',
  summary: 'show the xDS sync state of every connected proxy',
  usage,
  async run(args, io) {
    const { values } = parseArgs({ args, options: { ...CLIENT_OPTIONS, output: { type: 'string', short: 'o', default: 'table' } } });
    const { items, unreachable } = await new AdminClient(values).request<{ items: ProxyStatusJson[]; unreachable?: Record<string, string> }>('GET', '/v1/proxies');
    // Replicas on etcd: the replica asked gathers every replica's proxies; say which did not answer.
    warnUnreachable(unreachable, io);
    if (values.output === 'json') {
      io.out(JSON.stringify(items, null, 2));
      return 0;
    }
    if (items.length === 0) {
      io.out('no proxies connected');
      return 0;
    }
    const several = new Set(items.map((p) => p.replica)).size > 1;
    const rows = items.map((p) => [
      p.nodeId,
      p.service ? `${p.service}.${p.namespace}` : '-',
      `${p.role}/${p.stream}`,
      ...(several ? [p.replica ?? '-'] : []),
      ...COLS.map((k) => {
        const t = p.types[k];
        return t ? `${t.state}${t.state === 'NACKED' ? '' : ''}` : '-';
      }),
      p.revision === undefined || p.revision === null ? '-' : String(p.revision),
    ]);
    io.out(table(['PROXY', 'SERVICE', 'KIND', ...(several ? ['REPLICA'] : []), 'CDS', 'EDS', 'LDS', 'RDS', 'SDS', 'REVISION'], rows));
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
