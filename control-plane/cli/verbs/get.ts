/** `weft get KIND [NAME]`: list or show stored resources as a table, YAML or JSON. */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { MeshResource } from '../../config/types.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { KIND_HELP, parseKind } from '../kinds.js';
import { kindDefinition } from '../../config/kinds/index.js';
import { WeftError } from '../../../common/errors.js';

const usage = `Usage: weft get KIND [NAME] [-n NAMESPACE | -A] [-o yaml|json]

Kinds: ${KIND_HELP}, or "all".
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

function summarize(r: MeshResource): string {
  return kindDefinition(r.kind).summary(r);
}
