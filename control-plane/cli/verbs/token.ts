/** `weft token create|list|revoke`: join tokens a sidecar uses for its first certificate. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { parseDurationFlag } from '../flags.js';
import { NAMESPACE_OPTIONS, OUTPUT_OPTION, namespaceOf, outputFormat, printData } from '../output.js';

const usage = `Usage:
  weft token create --service NAME [-n NS] [--ttl DURATION] [-o text|json]
  weft token list [-n NS | -A] [-o table|wide|yaml|json]
  weft token revoke ID

A join token lets a new sidecar of one service obtain its first workload certificate
(spiffe://<trust-domain>/ns/<NS>/sa/<NAME>); later renewals use the certificate itself. It also
pins the CA root, so the sidecar can verify the control plane without a --ca-file. Tokens are
reusable by every instance of the service until they expire (--ttl, default 24h) or are revoked.
Pass one to a sidecar with --token-file FILE or the WEFT_JOIN_TOKEN environment variable.

  -n, --namespace NS     the service's namespace (default: default); list: only this namespace
  -A, --all-namespaces   list: every namespace
  -o, --output FORMAT    create: text (the token alone, default) or json; list: table (default),
                         wide (adds when each was created), yaml or json

${CLIENT_USAGE}

Example:
  weft token create --service orders --namespace shop --ttl 1h > orders.token
  weft sidecar --service orders --namespace shop --token-file orders.token ...`;

interface TokenInfo {
  id: string;
  namespace: string;
  service: string;
  createdAt: string;
  expiresAt: string;
  revoked: boolean;
}

export const token: Verb = {
  name: 'token',
  summary: 'create, list or revoke join tokens for sidecars',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, ...OUTPUT_OPTION, service: { type: 'string' }, ttl: { type: 'string', default: '24h' } },
      allowPositionals: true,
    });
    const client = new AdminClient(values);
    const sub = positionals[0];
    if (sub === 'create') {
      if (!values.service) throw usageError('token create needs --service');
      let ttlMs: number;
      try {
        ttlMs = parseDurationFlag(values.ttl!);
      } catch (e) {
        throw usageError(`--ttl: ${(e as Error).message}`);
      }
      const format = outputFormat(values.output, ['text', 'json']);
      const r = await client.request<{ token: string; info: TokenInfo; warnings?: string[] }>('POST', '/v1/tokens', { service: values.service, namespace: namespaceOf(values, { all: false }), ttlSeconds: Math.ceil(ttlMs / 1000) });
      if (format === 'json') io.out(JSON.stringify(r, null, 2));
      else {
        io.out(r.token);
        io.err(`token ${r.info.id} for ${r.info.service}.${r.info.namespace}, expires ${r.info.expiresAt}`);
      }
      for (const w of r.warnings ?? []) io.err(`warning: ${w}`);
      return 0;
    }
    if (sub === 'list') {
      const format = outputFormat(values.output, ['table', 'wide', 'yaml', 'json']);
      const ns = namespaceOf(values);
      const items = (await client.request<{ items: TokenInfo[] }>('GET', '/v1/tokens')).items.filter((t) => ns === undefined || t.namespace === ns);
      if (format === 'json' || format === 'yaml') await printData(io, format, items);
      else {
        const now = Date.now();
        const wide = format === 'wide';
        const rows = items.map((t) => [t.id, t.namespace, t.service, ...(wide ? [t.createdAt] : []), t.expiresAt, t.revoked ? 'revoked' : Date.parse(t.expiresAt) < now ? 'expired' : 'valid']);
        io.out(rows.length ? table(['ID', 'NAMESPACE', 'SERVICE', ...(wide ? ['CREATED'] : []), 'EXPIRES', 'STATE'], rows) : `no join tokens${ns === undefined ? '' : ` in namespace ${ns} (every namespace: -A)`}`);
      }
      return 0;
    }
    if (sub === 'revoke') {
      if (positionals.length !== 2) throw usageError('token revoke needs one token ID (see `weft token list`)');
      const r = await client.request<{ info: TokenInfo }>('DELETE', `/v1/tokens/${encodeURIComponent(positionals[1]!)}`);
      io.out(`token ${r.info.id} (${r.info.service}.${r.info.namespace}) revoked`);
      return 0;
    }
    throw usageError(sub ? `unknown token command '${sub}'` : 'token needs a command: create, list or revoke');
  },
};
