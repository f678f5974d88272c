/**
 * `weft delete KIND NAME` or `weft delete -f FILE|DIR|-`: remove resources; refused while others
 * still reference them. With -f, every resource the files name goes in one change (all or none),
 * so a route and the Service it points at can leave together.
 */
import { parseArgs } from 'node:util';
import { WeftError, type FieldError } from '../../../common/errors.js';
import type { ResourceKey } from '../../config/types.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Io, type Verb } from '../context.js';
import { KIND_HELP, KIND_NAMES, isKind, parseKind } from '../kinds.js';
import { readInputs } from '../inputs.js';
import { NAMESPACE_OPTIONS, namespaceOf } from '../output.js';

const usage = `Usage:
  weft delete KIND NAME [NAME...] [-n NAMESPACE] [--ignore-not-found]
  weft delete -f FILE|DIR|- [-f ...] [--ignore-not-found]

Kinds: ${KIND_HELP}.
  -n, --namespace NS    namespace of the named resources (default: default)
  -f, --filename PATH   delete every resource the file names (kind, metadata.name and
                        metadata.namespace, default "default", as apply reads them; the rest of
                        each document is not looked at); a directory means its *.yaml, *.yml
                        and *.json files, - standard input; repeatable
      --ignore-not-found
                        a named resource that does not exist is skipped (and said so) instead
                        of failing the whole delete; the rest still goes in one change

Everything named goes in one change, or nothing does. A resource that others reference (a
Service named in a route's backendRefs, say) is not deleted unless they go too; the error names
each referrer and field.

${CLIENT_USAGE}

Examples:
  weft delete httproute orders-canary
  weft delete -f orders.yaml
  weft delete -f orders.yaml --ignore-not-found   # idempotent teardown`;

interface Deleted {
  revision: number;
  deleted: ResourceKey[];
  notFound?: ResourceKey[];
}

export const del: Verb = {
  name: 'delete',
  summary: 'delete resources by kind and name, or every resource a file names',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, filename: { type: 'string', short: 'f', multiple: true }, 'ignore-not-found': { type: 'boolean' } },
      allowPositionals: true,
    });
    if (values.filename?.length) {
      if (positionals.length) throw usageError('give -f FILE or KIND NAME, not both');
      if (values.namespace !== undefined || values['all-namespaces']) throw usageError("-n does not apply with -f: each document's metadata.namespace (default: default) says where it is, as for apply");
      return deleteKeys(new AdminClient(values), await keysInFiles(values.filename, io), io, values['ignore-not-found'] ?? false);
    }
    if (positionals.length < 2) throw usageError('delete needs KIND and NAME (or -f FILE)');
    const ns = namespaceOf(values, { all: false })!;
    const kind = parseKind(positionals[0]!);
    if (!kind) throw usageError(`unknown kind '${positionals[0]}' (kinds: ${KIND_HELP})`);
    const names = positionals.slice(1);
    const client = new AdminClient(values);
    const ignoreNotFound = values['ignore-not-found'] ?? false;
    if (names.length === 1 && !ignoreNotFound) {
      // One resource: the older endpoint, which every control plane version has.
      const res = await client.request<{ revision: number }>('DELETE', `/v1/resources/${kind}/${encodeURIComponent(ns)}/${encodeURIComponent(names[0]!)}`);
      io.out(`${kind}/${ns}/${names[0]} deleted (revision ${res.revision})`);
      return 0;
    }
    return deleteKeys(client, names.map((n) => `${kind}/${ns}/${n}`), io, ignoreNotFound);
  },
};

async function deleteKeys(client: AdminClient, keys: ResourceKey[], io: Io, ignoreNotFound: boolean): Promise<number> {
  const res = await client.request<Deleted>('POST', '/v1/delete', ignoreNotFound ? { keys, ignoreNotFound } : { keys });
  for (const k of res.deleted) io.out(`${k} deleted (revision ${res.revision})`);
  for (const k of res.notFound ?? []) io.out(`${k} not found (skipped: --ignore-not-found)`);
  return 0;
}

/** The keys of every document in the files, read with apply's parser; a document without kind or name is an error. */
async function keysInFiles(paths: string[], io: Io): Promise<ResourceKey[]> {
  const { parseDocuments } = await import('../../config/parse.js');
  const keys = new Set<ResourceKey>();
  const errors: FieldError[] = [];
  for (const f of await readInputs(paths, io.stdin)) {
    const parsed = parseDocuments(f.content, f.name);
    errors.push(...parsed.errors);
    for (const d of parsed.docs) {
      const err = (path: string, message: string) => errors.push({ file: d.file, document: d.index, path, message });
      const v = d.value as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } } | null;
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        err('', 'not a resource (want a mapping with kind and metadata.name)');
        continue;
      }
      if (!isKind(v.kind)) {
        err('kind', `${v.kind === undefined ? 'is missing' : `unknown kind ${JSON.stringify(v.kind)}`} (kinds: ${KIND_NAMES.map((k) => k.kind).join(', ')})`);
        continue;
      }
      const name = v.metadata?.name;
      if (typeof name !== 'string' || !name) {
        err('metadata.name', 'is missing: cannot tell which resource to delete');
        continue;
      }
      const ns = KIND_NAMES.find((k) => k.kind === v.kind)!.singleton !== undefined ? 'default' : v.metadata?.namespace ?? 'default';
      if (typeof ns !== 'string' || !ns) {
        err('metadata.namespace', 'must be a namespace name');
        continue;
      }
      keys.add(`${v.kind}/${ns}/${name}`);
    }
  }
  if (errors.length) throw new WeftError('CONFIG_INVALID', `${errors.length} document(s) name no resource; nothing was deleted`, { details: errors });
  if (!keys.size) throw usageError(`${paths.join(', ')} name no resources`);
  return [...keys];
}
