/** `weft proxy-status`: every connected proxy and, per resource type, SYNCED / STALE / NACKED. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { OUTPUT_OPTION, outputFormat, printData } from '../output.js';
import { listProxies, matchProxies } from '../proxies.js';
import { warnUnreachable } from '../replicas-warn.js';

const usage = `Usage: weft proxy-status [PROXY|SERVICE] [-o table|wide|yaml|json]

Lists connected proxies (Weft sidecars, gRPC proxyless clients, Envoy) with the sync state of each
xDS resource type: SYNCED (acknowledged the latest version), STALE (sent, not yet acknowledged),
NACKED (rejected; the message says why, and the proxy keeps its last good config). REVISION is
the configuration revision its current config was built from (on etcd: the etcd revision of
that commit, the same on every replica). With control-plane replicas on etcd the replica asked
lists every replica's proxies, with a REPLICA column saying which one each proxy is connected to
(also when they are all on one replica, as after a failover).

PROXY|SERVICE keeps the proxies whose node id it is or starts with, or whose service it names
(NAME or NAME.NAMESPACE). Proxies are listed from every namespace (they are processes, not
namespaced resources); filter by service instead.
  -o, --output FORMAT   table (default), wide (adds the replica, user agent and connection
                        time), yaml or json

${CLIENT_USAGE}

Examples:
  weft proxy-status
  weft proxy-status orders -o wide`;

const COLS = ['cluster', 'endpoint', 'listener', 'route', 'secret'] as const;

export const proxyStatus: Verb = {
  name: 'proxy-status',
  summary: 'show the xDS sync state of every connected proxy',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { ...CLIENT_OPTIONS, ...OUTPUT_OPTION }, allowPositionals: true });
    if (positionals.length > 1) throw usageError('proxy-status takes at most one PROXY or SERVICE');
    const format = outputFormat(values.output, ['table', 'wide', 'yaml', 'json']);
    const query = positionals[0];
    const all = await listProxies(new AdminClient(values));
    const { unreachable } = all;
    const items = query === undefined ? all.items : matchProxies(all.items, query);
    // Replicas on etcd: the replica asked gathers every replica's proxies; say which did not answer.
    warnUnreachable(unreachable, io);
    if (format === 'json' || format === 'yaml') {
      await printData(io, format, items);
      return 0;
    }
    if (items.length === 0) {
      io.out(query === undefined ? 'no proxies connected' : `no connected proxy matches '${query}' (${all.items.length} connected)`);
      return 0;
    }
    const wide = format === 'wide';
    const several = wide || all.replicas === true || new Set(items.map((p) => p.replica)).size > 1;
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
      ...(wide ? [p.userAgent || '-', p.connectedAt] : []),
    ]);
    io.out(table(['PROXY', 'SERVICE', 'KIND', ...(several ? ['REPLICA'] : []), 'CDS', 'EDS', 'LDS', 'RDS', 'SDS', 'REVISION', ...(wide ? ['USER AGENT', 'CONNECTED'] : [])], rows));
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
