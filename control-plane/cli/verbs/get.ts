/** `weft get KIND [NAME]`: list or show stored resources as a table, YAML or JSON. */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { MeshResource } from '../../config/types.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Io, type Verb } from '../context.js';
import type { ReplicaView } from '../../replicas.js';
import { KIND_HELP, parseKind } from '../kinds.js';
import { kindDefinition } from '../../config/kinds/index.js';
import { WeftError } from '../../../common/errors.js';

const usage = `Usage: weft get KIND [NAME] [-n NAMESPACE | -A] [-o yaml|json]

Kinds: ${KIND_HELP}, or "all".
       \`weft get replicas\` lists the live control-plane replicas (on etcd): where each is
       reached, the configuration revision it serves, its proxies, which one leads, and HEALTHY
       (serving the newest revision).
  -n, --namespace NS     only this namespace (default: all namespaces)
  -o, --output FORMAT    table (default), yaml or json; yaml and json print the resources as stored

${CLIENT_USAGE}

Example:
  weft get httproute orders -o yaml`;

export const get: Verb = {
  name: 'get',
  summary: 'list or show resources',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o', default: 'table' }, 'all-namespaces': { type: 'boolean', short: 'A' } },
      allowPositionals: true,
    });
    const [kindArg, name] = positionals;
    if (!kindArg || positionals.length > 2) throw usageError('get needs KIND and at most one NAME', usage);
    if (kindArg === 'replicas' || kindArg === 'replica') return getReplicas(values, name, io);
    const kind = kindArg === 'all' ? undefined : parseKind(kindArg);
    if (kindArg !== 'all' && !kind) throw usageError(`unknown kind '${kindArg}'`, usage);
    if (!['table', 'yaml', 'json'].includes(values.output!)) throw usageError(`unknown output format '${values.output}'`, usage);
    const q = new URLSearchParams();
    if (kind) q.set('kind', kind);
    if (name) q.set('name', name);
    if (values.namespace) q.set('namespace', values.namespace);
    const { items } = await new AdminClient(values).request<{ items: MeshResource[] }>('GET', `/v1/resources?${q}`);
    if (name && items.length === 0) {
      throw new WeftError('CONFIG_NOT_FOUND', `${kind} '${name}' not found${values.namespace ? ` in namespace ${values.namespace}` : ''} (list them with \`weft get ${kindArg}\`)`);
    }
    // -o json/yaml print the documents as applied, so they can be applied again.
    const docs = items.map((r) => r.source ?? r);
    if (values.output === 'json') io.out(JSON.stringify(name ? docs[0] : { items: docs }, null, 2));
    else if (values.output === 'yaml') io.out(docs.map((r) => stringify(r).trimEnd()).join('\n---\n'));
    else if (items.length === 0) io.out('no resources found');
    else io.out(table(['KIND', 'NAMESPACE', 'NAME', 'SUMMARY'], items.map((r) => [r.kind, r.metadata.namespace, r.metadata.name, summarize(r)])));
    return 0;
  },
};

async function getReplicas(values: ConstructorParameters<typeof AdminClient>[0] & { output?: string }, name: string | undefined, io: Io): Promise<number> {
  const { items } = await new AdminClient(values).request<{ items: ReplicaView[] }>('GET', '/v1/replicas');
  const shown = name ? items.filter((r) => r.name === name) : items;
  if (name && !shown.length) throw new WeftError('CONFIG_NOT_FOUND', `no live replica named '${name}' (list them with \`weft get replicas\`)`);
  if (values.output === 'json') io.out(JSON.stringify(name ? shown[0] : { items: shown }, null, 2));
  else if (values.output === 'yaml') io.out(stringify(name ? shown[0] : { items: shown }).trimEnd());
  else {
    const age = (t: string) => {
      const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
      return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
    };
    io.out(table(['NAME', 'XDS', 'ADMIN', 'REVISION', 'PROXIES', 'LEADER', 'HEALTHY', 'AGE'], shown.map((r) => [`${r.name}${r.self ? ' (asked)' : ''}`, r.xds, r.admin, String(r.revision), String(r.proxies), r.leader ? 'yes' : '-', r.healthy ? 'yes' : 'LAGGING', age(r.startedAt)])));
  }
  return 0;
}

function summarize(r: MeshResource): string {
  return kindDefinition(r.kind).summary(r);
}
