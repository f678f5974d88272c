/**
 * `weft cache purge`: removes stored responses from gateways' HTTP caches (CachePolicy) through
 * their admin listeners (`POST /cache/purge`). A Redis store is shared by every replica, so one
 * replica's admin address purges it for all; in-memory stores are per process: name each one.
 */
import { parseArgs } from 'node:util';
import { WeftError } from '../../../common/errors.js';
import { table, usageError, type Verb } from '../context.js';
import { parseDurationFlag } from '../flags.js';

const usage = `Usage: weft cache purge --admin HOST:PORT [--admin HOST:PORT ...] (--tag TAG | --key URL) [-o table|json] [--timeout DUR]

Purges a gateway's HTTP cache (CachePolicy) through its admin listener (weft gateway --admin-port):
  --tag TAG   every stored response tagged TAG (by the Cache-Tag or Surrogate-Key response header,
              or the CachePolicy's tagHeaders)
  --key URL   every stored variant of one URL: http://HOST/PATH?QUERY (without a scheme, both http
              and https; the host is the request's Host, the query is part of the key)
  --admin     a gateway's admin address; repeat it for several replicas. A Redis store is shared by
              every replica, so one address purges it for all; in-memory stores are per process.
  --timeout   how long to wait for each gateway (default 10s)

Example:
  weft cache purge --admin 127.0.0.1:15000 --tag product-42`;

interface Purged {
  store: string;
  removed: number;
}

export const cache: Verb = {
  name: 'cache',
  summary: 'purge gateways\' HTTP caches by tag or URL',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { admin: { type: 'string', multiple: true }, tag: { type: 'string' }, key: { type: 'string' }, output: { type: 'string', short: 'o', default: 'table' }, timeout: { type: 'string', default: '10s' } },
      allowPositionals: true,
    });
    if (positionals[0] !== 'purge' || positionals.length !== 1) throw usageError(positionals.length ? `unknown subcommand '${positionals.join(' ')}'` : 'missing subcommand purge');
    const admins = values.admin ?? [];
    if (admins.length === 0) throw usageError('--admin HOST:PORT is required');
    for (const a of admins) if (!/^[^\s/:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(a)) throw usageError(`--admin: want HOST:PORT, got '${a}'`);
    if ((values.tag === undefined) === (values.key === undefined)) throw usageError('give exactly one of --tag or --key');
    if (values.tag === '' || values.key === '') throw usageError('--tag and --key must not be empty');
    if (values.output !== 'table' && values.output !== 'json') throw usageError(`-o: want table or json, got '${values.output}'`);
    let timeoutMs: number;
    try {
      timeoutMs = parseDurationFlag(values.timeout!);
    } catch (e) {
      throw usageError(`--timeout: ${(e as Error).message}`);
    }
    const body = JSON.stringify(values.tag !== undefined ? { tag: values.tag } : { key: values.key });
    const results = await Promise.all(
      admins.map(async (admin) => {
        let res: Response;
        try {
          res = await fetch(`http://${admin}/cache/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(timeoutMs) });
        } catch (e) {
          return { admin, error: `cannot reach ${admin}: ${(e as Error).cause ? ((e as Error).cause as Error).message : (e as Error).message}` };
        }
        const text = await res.text();
        if (res.status === 404) return { admin, error: `${admin} has no cache purge endpoint (not a weft gateway or sidecar admin listener?)` };
        if (!res.ok) {
          let msg = text.trim();
          try {
            msg = (JSON.parse(text) as { message: string }).message;
          } catch {
            /* plain text */
          }
          return { admin, error: `${admin}: ${res.status} ${msg}` };
        }
        return { admin, purged: (JSON.parse(text) as { purged: Purged[] }).purged };
      }),
    );
    if (values.output === 'json') io.out(JSON.stringify(results, null, 2));
    else {
      const rows = results.flatMap((r) => ('error' in r ? [] : r.purged!.length ? r.purged!.map((p) => [r.admin, p.store, String(p.removed)]) : [[r.admin, '(no cache stores)', '0']]));
      if (rows.length) io.out(table(['ADMIN', 'STORE', 'REMOVED'], rows));
    }
    const failed = results.filter((r) => 'error' in r);
    for (const f of failed) io.err(`error: ${f.error}`);
    if (failed.length) throw new WeftError('ADMIN_UNREACHABLE', `${failed.length} of ${results.length} gateways did not purge`);
    return 0;
  },
};
