/** `weft token create|list|revoke`: join tokens a sidecar uses for its first certificate. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { parseDurationFlag } from '../flags.js';

const usage = `Usage:
  weft token create --service NAME [--namespace NS] [--ttl DURATION] [-o text|json]
  weft token list [-o table|json]
  weft token revoke ID

A join token lets a new sidecar of one service obtain its first workload certificate
(spiffe://<trust-domain>/ns/<NS>/sa/<NAME>); later renewals use the certificate itself. It also
pins the CA root, so the sidecar can verify the control plane without a --ca-file. Tokens are
reusable by every instance of the service until they expire (--ttl, default 24h) or are revoked.
Pass one to a sidecar with --token-file FILE or the WEFT_JOIN_TOKEN environment variable.

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
      options: { ...CLIENT_OPTIONS, service: { type: 'string' }, namespace: { type: 'string', short: 'n', default: 'default' }, ttl: { type: 'string', default: '24h' }, output: { type: 'string', short: 'o' } },
      allowPositionals: true,
    });
    const client = new AdminClient(values);
    const sub = positionals[0];
    if (sub === 'create') {
      if (!values.service) throw usageError('token create needs --service', usage);
      let ttlMs: number;
      try {
        ttlMs = parseDurationFlag(values.ttl!);
      } catch (e) {
        throw usageError(`--ttl: ${(e as Error).message}`, usage);
      }
      const r = await client.request<{ token: string; info: TokenInfo; warnings?: string[] }>('POST', '/v1/tokens', { service: values.service, namespace: values.namespace, ttlSeconds: Math.ceil(ttlMs / 1000) });
      if (values.output === 'json') io.out(JSON.stringify(r, null, 2));
      else {
        io.out(r.token);
        io.err(`token ${r.info.id} for ${r.info.service}.${r.info.namespace}, expires ${r.info.expiresAt}`);
      }
      for (const w of r.warnings ?? []) io.err(`warning: ${w}`);
      return 0;
    }
    if (sub === 'list') {
      const r = await client.request<{ items: TokenInfo[] }>('GET', '/v1/tokens');
      if (values.output === 'json') io.out(JSON.stringify(r.items, null, 2));
      else {
        const now = Date.now();
        const rows = r.items.map((t) => [t.id, t.namespace, t.service, t.expiresAt, t.revoked ? 'revoked' : Date.parse(t.expiresAt) < now ? 'expired' : 'valid']);
        io.out(rows.length ? table(['ID', 'NAMESPACE', 'SERVICE', 'EXPIRES', 'STATE'], rows) : 'no join tokens');
      }
      return 0;
    }
    if (sub === 'revoke') {
      if (positionals.length !== 2) throw usageError('token revoke needs one token ID (see `weft token list`)', usage);
      const r = await client.request<{ info: TokenInfo }>('DELETE', `/v1/tokens/${encodeURIComponent(positionals[1]!)}`);
      io.out(`token ${r.info.id} (${r.info.service}.${r.info.namespace}) revoked`);
      return 0;
    }
    throw usageError(sub ? `unknown token command '${sub}'` : 'token needs a command: create, list or revoke', usage);
  },
};
