/** `weft proxy-config PROXY`: the xDS resources the control plane currently serves to one proxy. */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';

const TYPES = ['listener', 'route', 'cluster', 'endpoint', 'secret'];

const usage = `Usage: weft proxy-config PROXY [--type ${TYPES.join('|')}] [-o table|json|yaml]

PROXY is a node id as listed by \`weft proxy-status\`. Without -o, prints one line per resource
(type, name, version); -o json or yaml prints the full Envoy resources (proto3 JSON).

${CLIENT_USAGE}

Example:
  weft proxy-config orders-1 --type cluster -o yaml`;

type Dump = { nodeId: string; resources: Record<string, Array<{ name: string; version: string; resource: unknown }>> };

export const proxyConfig: Verb = {
  name: 'proxy-config',
  summary: "show the xDS resources served to a proxy",
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, type: { type: 'string', short: 't' }, output: { type: 'string', short: 'o', default: 'table' } },
      allowPositionals: true,
    });
    if (positionals.length !== 1) throw usageError('proxy-config needs one PROXY id', usage);
    if (values.type && !TYPES.includes(values.type)) throw usageError(`unknown --type '${values.type}'`, usage);
    const q = values.type ? `?type=${values.type}` : '';
    const dump = await new AdminClient(values).request<Dump>('GET', `/v1/proxies/${encodeURIComponent(positionals[0]!)}/config${q}`);
    if (values.output === 'json') io.out(JSON.stringify(dump, null, 2));
    else if (values.output === 'yaml') io.out(stringify(dump).trimEnd());
    else {
      const rows: string[][] = [];
      for (const t of TYPES) for (const r of dump.resources[t] ?? []) rows.push([t.toUpperCase(), r.name, r.version]);
      io.out(rows.length ? table(['TYPE', 'NAME', 'VERSION'], rows) : 'no resources');
    }
    return 0;
  },
};
