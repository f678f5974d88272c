/**
 * A route's hash policies (Envoy's RouteAction.hash_policy) applied to one request: the key a
 * ring-hash or Maglev picker places it with, and the cookie to set when a policy generates one.
 */
import { hash32 } from '../upstream/lb/ring-hash.js';
import type { HashPolicy } from './route-table.js';
import type { HeaderSource } from './matchers.js';

/**
 * The route's hash policies for ring-hash balancing: the first policy that yields a key wins; a
 * missing cookie with a TTL is generated (as Envoy does) and returned to set on the response.
 */
export function hashKey(d: HeaderSource & { readonly remoteAddress: string }, policies: readonly HashPolicy[]): { hash: number | undefined; setCookie: string | undefined } {
  for (const p of policies) {
    if (p.kind === 'header') {
      const v = d.header(p.name);
      if (v !== undefined) return { hash: hash32(v), setCookie: undefined };
    } else if (p.kind === 'source-ip') {
      return { hash: hash32(d.remoteAddress), setCookie: undefined };
    } else {
      const cookies = d.header('cookie') ?? '';
      const m = p.re.exec(cookies);
      if (m) return { hash: hash32(m[1]!), setCookie: undefined };
      if (p.ttlSec !== undefined) {
        const v = Math.random().toString(36).slice(2) + Date.now().toString(36);
        return { hash: hash32(v), setCookie: `${p.name}=${v}${p.path ? `; Path=${p.path}` : ''}${p.ttlSec ? `; Max-Age=${p.ttlSec}` : ''}; HttpOnly` };
      }
    }
  }
  return { hash: undefined, setCookie: undefined };
}
