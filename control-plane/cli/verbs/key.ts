/**
 * `weft key issue|revoke`: API keys of a Consumer. The key is made here, from 32 random bytes,
 * printed once, and only its SHA-256 goes to the control plane (applied into the Consumer with
 * the revision it was read at, so a concurrent change is never overwritten).
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { WeftError } from '../../../common/errors.js';
import type { ConsumerKey } from '../../config/types.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Verb } from '../context.js';
import { consumerDocument, notFound, updateConsumer } from '../consumers.js';
import { parseDurationFlag } from '../flags.js';
import { NAMESPACE_OPTIONS, namespaceOf } from '../output.js';

const usage = `Usage:
  weft key issue CONSUMER [--expires DURATION] [--id ID] [-n NAMESPACE]
  weft key revoke CONSUMER KEYID [-n NAMESPACE]

issue makes a new API key for the Consumer: wk_<id>_<32 random bytes, base64url>. It is printed
once, on standard output; the control plane stores only its SHA-256 (with the id, the time it was
issued and its expiry), so a lost key cannot be shown again: issue another and revoke the old one.
revoke removes the key; proxies refuse it as soon as they have the new configuration.

  --expires DURATION   the key stops working after this long (e.g. 720h, 30d); default: never
  --id ID              the key's id (default: 8 random hex digits)
  -n, --namespace NS   the Consumer's namespace (default: default)

${CLIENT_USAGE}

Example:
  weft key issue acme --expires 30d > acme.key
  curl -H "x-api-key: $(cat acme.key)" https://api.example.com/v1/orders
  weft key revoke acme 3f9c2a1b`;

/** A duration flag that also takes whole days (`30d`). */
function expiresMs(s: string): number {
  const d = /^(\d+)d$/.exec(s);
  const ms = d ? Number(d[1]) * 86_400_000 : parseDurationFlag(s);
  if (ms <= 0) throw new Error('must be more than 0');
  return ms;
}

/** A new key: `wk_<id>_<base64url of 32 random bytes>`, and its stored form. */
export function newKey(id: string, now: Date, expiresInMs: number | undefined): { key: string; stored: ConsumerKey } {
  const key = `wk_${id}_${randomBytes(32).toString('base64url')}`;
  const stored: ConsumerKey = { id, hash: `sha256:${createHash('sha256').update(key).digest('hex')}`, created: now.toISOString() };
  if (expiresInMs !== undefined) stored.expires = new Date(now.getTime() + expiresInMs).toISOString();
  return { key, stored };
}

export const key: Verb = {
  name: 'key',
  summary: 'issue or revoke a Consumer\'s API keys',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, expires: { type: 'string' }, id: { type: 'string' } },
      allowPositionals: true,
    });
    const client = new AdminClient(values);
    const ns = namespaceOf(values, { all: false })!;
    const [sub, name, ...rest] = positionals;
    if (sub === 'issue') {
      if (!name || rest.length) throw usageError('key issue needs exactly one CONSUMER');
      let ttl: number | undefined;
      if (values.expires !== undefined) {
        try {
          ttl = expiresMs(values.expires);
        } catch (e) {
          throw usageError(`--expires: ${(e as Error).message}`);
        }
      }
      const id = values.id ?? randomBytes(4).toString('hex');
      if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,31}$/.test(id)) throw usageError(`--id ${id}: letters, digits and -, at most 32`);
      const { key: secret, stored } = newKey(id, new Date(), ttl);
      await updateConsumer(client, ns, name, (cur) => {
        if (!cur) throw notFound(ns, name);
        if (cur.spec.keys.some((k) => k.id === id)) throw new WeftError('CONFIG_INVALID', `Consumer ${ns}/${name} already has a key with id ${id}`);
        return consumerDocument({ metadata: cur.metadata, spec: { ...cur.spec, keys: [...cur.spec.keys, stored] } });
      }, `key issue ${name}`);
      io.out(secret);
      io.err(`key ${id} issued to Consumer ${ns}/${name}${stored.expires ? `, expires ${stored.expires}` : ''}; this is the only time it is shown (stored: ${stored.hash})`);
      return 0;
    }
    if (sub === 'revoke') {
      if (!name || rest.length !== 1) throw usageError('key revoke needs CONSUMER and KEYID (see `weft consumer list`)');
      const keyId = rest[0]!;
      await updateConsumer(client, ns, name, (cur) => {
        if (!cur) throw notFound(ns, name);
        if (!cur.spec.keys.some((k) => k.id === keyId)) throw new WeftError('CONFIG_NOT_FOUND', `Consumer ${ns}/${name} has no key ${keyId} (keys: ${cur.spec.keys.map((k) => k.id).join(', ') || 'none'})`);
        return consumerDocument({ metadata: cur.metadata, spec: { ...cur.spec, keys: cur.spec.keys.filter((k) => k.id !== keyId) } });
      }, `key revoke ${name} ${keyId}`);
      io.out(`key ${keyId} of Consumer ${ns}/${name} revoked`);
      return 0;
    }
    throw usageError(sub ? `unknown key command '${sub}'` : 'key needs a command: issue or revoke');
  },
};
