/** `weft delete KIND NAME`: remove a resource; refused while others still reference it. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Verb } from '../context.js';
import { KIND_HELP, parseKind } from '../kinds.js';

const usage = `Usage: weft delete KIND NAME [-n NAMESPACE]

Kinds: ${KIND_HELP}.
  -n, --namespace NS   namespace (default: default)

A resource that others reference (a Service named in a route's backendRefs, say) is not deleted;
the error names each referrer and field.

${CLIENT_USAGE}

Example:
  weft delete httproute orders-canary`;

export const del: Verb = {
  name: 'delete',
  summary: 'delete a resource',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { ...CLIENT_OPTIONS, namespace: { type: 'string', short: 'n', default: 'default' } }, allowPositionals: true });
    if (positionals.length !== 2) throw usageError('delete needs KIND and NAME');
    const kind = parseKind(positionals[0]!);
    if (!kind) throw usageError(`unknown kind '${positionals[0]}'`);
    const path = `/v1/resources/${kind}/${encodeURIComponent(values.namespace!)}/${encodeURIComponent(positionals[1]!)}`;
    const res = await new AdminClient(values).request<{ revision: number }>('DELETE', path);
    io.out(`${kind}/${values.namespace}/${positionals[1]} deleted (revision ${res.revision})`);
    return 0;
  },
};
