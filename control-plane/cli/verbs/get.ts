/** `weft get KIND [NAME]`: list or show stored resources as a table, YAML or JSON. */
import { parseArgs } from 'node:util';
import type { MeshResource } from '../../config/types.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Io, type Verb } from '../context.js';
import type { ReplicaView } from '../../replicas.js';
import { KIND_HELP, parseKind } from '../kinds.js';
import { NAMESPACE_OPTIONS, NAMESPACE_USAGE, OUTPUT_OPTION, namespaceOf, outputFormat, printData, type OutputFormat } from '../output.js';
import { WeftError } from '../../../common/errors.js';

const usage = `Usage: weft get KIND [NAME] [-n NAMESPACE | -A] [-o table|wide|yaml|json]

Kinds: ${KIND_HELP}, or "all".
       \`weft get replicas\` lists the live control-plane replicas (on etcd): where each is
       reached, the configuration revision it serves, its proxies, which one leads, and HEALTHY
       (serving the newest revision).
${NAMESPACE_USAGE}
  -o, --output FORMAT    table (default); wide adds labels and the apiVersion; yaml and json
                         print the resources as stored (so they apply again)

${CLIENT_USAGE}

Examples:
  weft get svc
  weft get httproute orders -o yaml
  weft get all -A`;

const FORMATS: readonly ['table', 'wide', 'yaml', 'json'] = ['table', 'wide', 'yaml', 'json'];

export const get: Verb = {
  name: 'get',
  summary: 'list or show resources',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, ...OUTPUT_OPTION },
      allowPositionals: true,
    });
    const [kindArg, name] = positionals;
    if (!kindArg || positionals.length > 2) throw usageError('get needs KIND and at most one NAME');
    const format = outputFormat(values.output, FORMATS);
    if (kindArg === 'replicas' || kindArg === 'replica') return getReplicas(values, format, name, io);
    const kind = kindArg === 'all' ? undefined : parseKind(kindArg);
    if (kindArg !== 'all' && !kind) throw usageError(`unknown kind '${kindArg}' (kinds: ${KIND_HELP}, or all)`);
    const ns = namespaceOf(values);
    const q = new URLSearchParams();
    if (kind) q.set('kind', kind);
    if (name) q.set('name', name);
    if (ns !== undefined) q.set('namespace', ns);
    const r = await new AdminClient(values).request<{ items: MeshResource[]; summaries?: Record<string, string> }>('GET', `/v1/resources?${q}`);
    const { items } = r;
    if (name && items.length === 0) {
      throw new WeftError('CONFIG_NOT_FOUND', `${kind ?? 'resource'} '${name}' not found${ns ? ` in namespace ${ns}` : ''} (list them with \`weft get ${kindArg}${ns ? '' : ' -A'}\`${ns ? ', or in every namespace with -A' : ''})`);
    }
    // -o json/yaml print the documents as applied, so they can be applied again.
    const docs = items.map((x) => x.source ?? x);
    if (format === 'json') await printData(io, 'json', name ? docs[0] : { items: docs });
    else if (format === 'yaml') await printData(io, 'yaml', docs, { documents: true });
    else if (items.length === 0) io.out(ns ? `no resources found in namespace ${ns}` : 'no resources found');
    else {
      const summaries = r.summaries ?? (await summariesHere(items));
      const key = (x: MeshResource) => `${x.kind}/${x.metadata.namespace}/${x.metadata.name}`;
      const labels = (x: MeshResource) => Object.entries(x.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',') || '-';
      const head = ['KIND', 'NAMESPACE', 'NAME', 'SUMMARY', ...(format === 'wide' ? ['LABELS', 'API VERSION'] : [])];
      io.out(table(head, items.map((x) => [x.kind, x.metadata.namespace, x.metadata.name, summaries[key(x)] ?? '', ...(format === 'wide' ? [labels(x), x.apiVersion] : [])])));
    }
    return 0;
  },
};

/** A control plane older than the `summaries` field: summarise here (loads every kind's definition). */
async function summariesHere(items: MeshResource[]): Promise<Record<string, string>> {
  const { kindDefinition } = await import('../../config/kinds/index.js');
  return Object.fromEntries(items.map((x) => [`${x.kind}/${x.metadata.namespace}/${x.metadata.name}`, kindDefinition(x.kind).summary(x)]));
}

async function getReplicas(values: ConstructorParameters<typeof AdminClient>[0], format: OutputFormat, name: string | undefined, io: Io): Promise<number> {
  const { items } = await new AdminClient(values).request<{ items: ReplicaView[] }>('GET', '/v1/replicas');
  const shown = name ? items.filter((r) => r.name === name) : items;
  if (name && !shown.length) throw new WeftError('CONFIG_NOT_FOUND', `no live replica named '${name}' (list them with \`weft get replicas\`)`);
  if (format === 'json' || format === 'yaml') await printData(io, format, name ? shown[0] : { items: shown });
  else {
    const age = (t: string) => {
      const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
      return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
    };
    const wide = format === 'wide';
    io.out(
      table(
        ['NAME', 'XDS', 'ADMIN', 'REVISION', 'PROXIES', 'LEADER', 'HEALTHY', 'AGE', ...(wide ? ['STARTED', 'CA BUNDLE', 'TRUST SYNCED'] : [])],
        shown.map((r) => [
          `${r.name}${r.self ? ' (asked)' : ''}`,
          r.xds,
          r.admin,
          String(r.revision),
          String(r.proxies),
          r.leader ? 'yes' : '-',
          r.healthy ? 'yes' : 'LAGGING',
          age(r.startedAt),
          ...(wide ? [r.startedAt, r.ca.bundle || '-', r.ca.trustSynced ? 'yes' : 'no'] : []),
        ]),
      ),
    );
  }
  return 0;
}
