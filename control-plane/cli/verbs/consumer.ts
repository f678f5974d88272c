/** `weft consumer create|list|delete`: the Consumers API keys and JWT subjects authenticate as. */
import { parseArgs } from 'node:util';
import { WeftError } from '../../../common/errors.js';
import type { ConsumerResource } from '../../config/types.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { consumerDocument, updateConsumer } from '../consumers.js';
import { NAMESPACE_OPTIONS, OUTPUT_OPTION, namespaceOf, outputFormat, printData } from '../output.js';

const usage = `Usage:
  weft consumer create NAME [--plan PLAN] [--label KEY=VALUE]... [-n NAMESPACE]
  weft consumer list [-n NAMESPACE | -A] [-o table|wide|yaml|json]
  weft consumer delete NAME [-n NAMESPACE]

A Consumer is who calls an API published through the gateway (or a sidecar): ApiKeyPolicies let
its API keys (\`weft key issue\`) or its mapped JWT subjects through, and rate limits read its plan.
Keys are stored as SHA-256 hashes only: listings show their ids and hashes, never a key.

  --plan PLAN          the consumer's plan (e.g. free, gold)
  --label KEY=VALUE    a label (ApiKeyPolicy consumers.matchLabels selects by them); repeatable
  -n, --namespace NS   namespace (default: default); -A, --all-namespaces: list every namespace
  -o, --output FMT     list as a table (default), wide (adds JWT subjects and each key's issue
                       and expiry times), yaml or json

${CLIENT_USAGE}

Example:
  weft consumer create acme --plan gold --label tier=paid
  weft key issue acme --expires 720h`;

function parseLabels(list: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list ?? []) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw usageError(`--label ${l}: want KEY=VALUE`);
    out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

/** `id (sha256:0123456789ab…, expires T)`: a key as listings show it. */
export function describeKey(k: ConsumerResource['spec']['keys'][number]): string {
  return `${k.id} (${k.hash.slice(0, 'sha256:'.length + 12)}…${k.expires ? `, expires ${k.expires}` : ''})`;
}

export const consumer: Verb = {
  name: 'consumer',
  summary: 'create, list or delete API Consumers',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, ...OUTPUT_OPTION, plan: { type: 'string' }, label: { type: 'string', multiple: true } },
      allowPositionals: true,
    });
    const client = new AdminClient(values);
    const [sub, name, ...rest] = positionals;
    // undefined (every namespace) only for list -A.
    const listed = namespaceOf(values, { all: sub === 'list' });
    const ns = listed ?? '';
    if (sub === 'create') {
      if (!name || rest.length) throw usageError('consumer create needs exactly one NAME');
      const labels = parseLabels(values.label);
      const r = await updateConsumer(client, ns, name, (cur) => {
        if (cur) throw new WeftError('CONFIG_INVALID', `Consumer ${ns}/${name} already exists (see \`weft consumer list\`; keys: \`weft key issue\`)`);
        return consumerDocument({ metadata: { name, namespace: ns, labels, annotations: {} }, spec: { plan: values.plan ?? '', keys: [], jwtSubjects: [] } });
      }, `consumer create ${name}`);
      io.out(`Consumer/${ns}/${name} created (revision ${r.revision})`);
      return 0;
    }
    if (sub === 'list') {
      if (name) throw usageError('consumer list takes no NAME');
      const format = outputFormat(values.output, ['table', 'wide', 'yaml', 'json']);
      const q = new URLSearchParams({ kind: 'Consumer', ...(listed === undefined ? {} : { namespace: listed }) });
      const r = await client.request<{ items: ConsumerResource[] }>('GET', `/v1/resources?${q}`);
      if (format === 'json' || format === 'yaml') {
        await printData(io, format, r.items);
        return 0;
      }
      const wide = format === 'wide';
      const rows = r.items.map((c) => [
        ...(listed === undefined ? [c.metadata.namespace] : []),
        c.metadata.name,
        c.spec.plan || '-',
        Object.entries(c.metadata.labels).map(([k, v]) => `${k}=${v}`).join(',') || '-',
        c.spec.keys.map((k) => (wide ? `${describeKey(k)} issued ${k.created}` : describeKey(k))).join(', ') || '-',
        ...(wide ? [c.spec.jwtSubjects.map((j) => JSON.stringify(j)).join(', ') || '-'] : []),
      ]);
      const head = [...(listed === undefined ? ['NAMESPACE'] : []), 'NAME', 'PLAN', 'LABELS', 'KEYS', ...(wide ? ['JWT SUBJECTS'] : [])];
      io.out(rows.length ? table(head, rows) : listed === undefined ? 'no consumers' : `no consumers in namespace ${listed}`);
      return 0;
    }
    if (sub === 'delete') {
      if (!name || rest.length) throw usageError('consumer delete needs exactly one NAME');
      const r = await client.request<{ revision: number }>('DELETE', `/v1/resources/Consumer/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
      io.out(`Consumer/${ns}/${name} deleted (revision ${r.revision})`);
      return 0;
    }
    throw usageError(sub ? `unknown consumer command '${sub}'` : 'consumer needs a command: create, list or delete');
  },
};
