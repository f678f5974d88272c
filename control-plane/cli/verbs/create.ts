/** `weft create secret tls NAME --cert FILE --key FILE`: a TLS Secret from PEM files, as kubectl makes one. */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { WeftError } from '../../../common/errors.js';
import type { ApplyResult } from '../../control-plane.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Verb } from '../context.js';
import { NAMESPACE_OPTIONS, namespaceOf } from '../output.js';

const usage = `Usage: weft create secret tls NAME --cert FILE --key FILE [-n NAMESPACE] [--dry-run]

Stores a kubernetes.io/tls Secret holding a PEM certificate chain (leaf first) and its private key,
for Gateway listeners to name in tls.certificateRefs. Creating it again with other files replaces
the certificate: gateways serve the new one to new connections and open ones continue.
The key is checked against the certificate and never printed back (\`weft get secret\` shows
<redacted>).

  --cert FILE           PEM certificate chain
  --key FILE            PEM private key (unencrypted)
  -n, --namespace NS    the Secret's namespace (default: default)
  --dry-run             validate only; store nothing

${CLIENT_USAGE}

Example:
  weft create secret tls shop-cert --cert shop.crt --key shop.key`;

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new WeftError('CLI_USAGE', `cannot read the ${what} file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

export const create: Verb = {
  name: 'create',
  summary: 'create a TLS Secret from certificate and key files',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, cert: { type: 'string' }, key: { type: 'string' }, 'dry-run': { type: 'boolean' } },
      allowPositionals: true,
    });
    const [what, type, name, ...rest] = positionals;
    if (what !== 'secret' || type !== 'tls') throw usageError(`weft create makes TLS Secrets: weft create secret tls NAME --cert FILE --key FILE`);
    if (!name || rest.length) throw usageError('weft create secret tls needs exactly one NAME');
    if (!values.cert || !values.key) throw usageError('weft create secret tls needs --cert FILE and --key FILE');
    const doc = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: namespaceOf(values, { all: false })! },
      type: 'kubernetes.io/tls',
      stringData: { 'tls.crt': await readPem(values.cert, 'certificate'), 'tls.key': await readPem(values.key, 'key') },
    };
    const dry = values['dry-run'] === true;
    const result = await new AdminClient(values).request<ApplyResult>('POST', `/v1/apply${dry ? '?dryRun=1' : ''}`, { files: [{ name: `secret ${name} (--cert ${values.cert}, --key ${values.key})`, content: JSON.stringify(doc) }] });
    for (const r of result.resources) io.out(`${r.key} ${dry && r.action !== 'unchanged' ? `${r.action} (dry run)` : r.action}`);
    return 0;
  },
};
