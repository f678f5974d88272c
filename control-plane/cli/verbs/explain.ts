/** `weft explain METHOD URL --from SERVICE`: what the mesh will do with a request, hop by hop. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Io, type Verb } from '../context.js';
import type { Explanation, ProxyHop } from '../../explain.js';

const usage = `Usage: weft explain METHOD URL --from SERVICE [-n NAMESPACE] [-H 'name: value']... [--proxy ID] [-o text|json|yaml]

Prints what the mesh would do with the request now, computed by the sidecar's own routing and
filter code on the config the control plane serves: on the caller's sidecar (outbound), the
virtual host and route matched (and the routes before it, with why they did not match), the
filters in order with their decisions, the cluster or weighted split, retries and timeout, the
endpoints with their health and the balancing policy, and the identity expected of the peer;
then, on the destination's sidecar (inbound), the route and the authorization decision with
the caller's identity.

  --from SERVICE        the calling service (its sidecar decides the first hop)
  -n, --namespace NS    the calling service's namespace (default: default)
  -H, --header 'N: V'   a request header (repeatable)
  --proxy ID            explain as this connected proxy of SERVICE (default: one of them, or a
                        new one's config when none is connected)
  -o, --output FORMAT   text (default), json or yaml

${CLIENT_USAGE}

Example:
  weft explain GET http://orders/v1/items --from web -H 'x-canary: yes'`;

export const explain: Verb = {
  name: 'explain',
  summary: 'show what the mesh will do with a request (routes, policies, endpoints)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, from: { type: 'string' }, namespace: { type: 'string', short: 'n', default: 'default' }, header: { type: 'string', short: 'H', multiple: true }, proxy: { type: 'string' }, output: { type: 'string', short: 'o', default: 'text' } },
      allowPositionals: true,
    });
    if (positionals.length !== 2) throw usageError('explain needs METHOD and URL, e.g. `weft explain GET http://orders/v1/items --from web`');
    if (!values.from) throw usageError('explain needs --from SERVICE (the calling service)');
    if (!['text', 'json', 'yaml'].includes(values.output!)) throw usageError(`unknown output format '${values.output}' (text, json or yaml)`);
    for (const h of values.header ?? []) if (h.indexOf(':') <= 0) throw usageError(`--header '${h}': want 'name: value'`);
    const q = new URLSearchParams({ method: positionals[0]!, url: positionals[1]!, from: values.from, namespace: values.namespace! });
    for (const h of values.header ?? []) q.append('header', h);
    if (values.proxy) q.set('proxy', values.proxy);
    const e = await new AdminClient(values).request<Explanation>('GET', `/v1/explain?${q}`);
    if (values.output === 'json') io.out(JSON.stringify(e, null, 2));
    else if (values.output === 'yaml') io.out((await import('yaml')).stringify(e).trimEnd());
    else print(e, io);
    return 0;
  },
};

function print(e: Explanation, io: Io): void {
  io.out(`${e.request.method} ${e.request.url} from ${e.request.from} (namespace ${e.request.namespace})`);
  e.hops.forEach((h, i) => printHop(h, i + 1, io));
}

const pad = (s: string) => s.padEnd(14);

function printHop(h: ProxyHop, n: number, io: Io): void {
  io.out('');
  const who = h.connected ? `proxy ${h.proxy}` : `${h.proxy} (none connected: the config a new one gets)`;
  io.out(`Hop ${n}: ${h.service}, ${h.listener} listener, ${who}, config revision ${h.revision}${h.request.principal ? `\n  ${pad('peer')}${h.request.principal} (mTLS)` : ''}`);
  for (const x of h.nacks) io.out(`  ${pad('NACK')}${x}`);
  if (h.stoppedBefore) {
    io.out(`  ${pad('stopped')}${h.stoppedBefore}`);
    io.out(`  ${pad('outcome')}${h.outcome}`);
    return;
  }
  io.out(`  ${pad('request')}${h.request.method} ${h.request.authority}${h.request.path}${h.request.search}`);
  if (h.virtualHost) io.out(`  ${pad('virtual host')}${h.virtualHost.name} [${h.virtualHost.domains.join(', ')}]: ${h.virtualHost.why}`);
  else io.out(`  ${pad('virtual host')}none serves ${h.request.authority} (route config ${h.routeConfig})`);
  for (const v of h.otherVirtualHosts.slice(0, 8)) io.out(`  ${pad('')}  not ${v.name}: ${v.why}`);
  if (h.otherVirtualHosts.length > 8) io.out(`  ${pad('')}  (${h.otherVirtualHosts.length - 8} more virtual hosts)`);
  h.routes.forEach((r, i) => {
    const mark = r.matched ? 'MATCH' : r.notTried ? 'later' : 'no';
    io.out(`  ${pad(i === 0 ? 'routes' : '')}${mark.padEnd(6)}${r.name || '(unnamed)'}  [${r.match}]${r.why ? `: ${r.why}` : ''}`);
  });
  if (!h.filters.length) io.out(`  ${pad('filters')}none`);
  h.filters.forEach((f, i) => io.out(`  ${pad(i === 0 ? 'filters' : '')}${`${i + 1}.`.padEnd(4)}${f.name}: ${f.effect.toUpperCase()} ${f.detail}`));
  const a = h.action;
  if (a?.kind === 'forward') {
    io.out(`  ${pad('upstream')}${a.upstreamPath}${a.hostRewrite ? ` (host ${a.hostRewrite})` : ''}; timeout ${a.timeoutMs ? `${a.timeoutMs}ms` : 'none'}; ${a.retry ? `up to ${a.retry.attempts} attempts on ${[...a.retry.on, ...a.retry.statusCodes.map(String)].join(',')}${a.retry.perTryTimeoutMs ? `, ${a.retry.perTryTimeoutMs}ms per try` : ''}, backoff ${a.retry.backoffMs[0]}-${a.retry.backoffMs[1]}ms` : 'no retries'}`);
    if (a.hashPolicy.length) io.out(`  ${pad('')}hash on ${a.hashPolicy.join(', ')}`);
    if (a.mirrors.length) io.out(`  ${pad('')}mirrored to ${a.mirrors.join(', ')}`);
    for (const c of a.clusters) {
      if (!c.known) {
        io.out(`  ${pad('cluster')}${c.name} (${c.percent}%): not in the proxy's config: 503`);
        continue;
      }
      const tls = c.tls === 'plaintext' || !c.tls ? 'plaintext' : `mTLS${c.tls.meshEndpointsOnly ? ' to mesh endpoints' : ''}, peer must be ${c.tls.expectedIdentities.join(' or ') || '(any mesh identity)'}`;
      io.out(`  ${pad('cluster')}${c.name} (${c.percent}%): ${c.lbPolicy}, ${tls}, connect timeout ${c.connectTimeoutMs}ms${c.outlierDetection ? ', outlier detection' : ''}${c.activeHealthCheck ? ', active health checks' : ''}${c.h2Keepalive ? `, h2 keepalive PING every ${c.h2Keepalive.intervalMs}ms (timeout ${c.h2Keepalive.timeoutMs}ms)` : ''}`);
      if (!c.endpoints?.length) io.out(`  ${pad('')}  no endpoints: 503 NO_HEALTHY_UPSTREAM`);
      for (const ep of c.endpoints ?? []) io.out(`  ${pad('')}  ${ep.address}  ${ep.healthy ? 'healthy' : `UNHEALTHY (${ep.health.join(', ')})`}  weight ${ep.weight}${ep.zone ? `  zone ${ep.zone}` : ''}${ep.priority ? `  priority ${ep.priority}` : ''}${ep.mtls ? '  mTLS' : ''}`);
    }
  } else if (a?.kind === 'redirect') io.out(`  ${pad('redirect')}${a.status} ${a.location}`);
  else if (a?.kind === 'direct') io.out(`  ${pad('answer')}${a.status}${a.body ? ` ${JSON.stringify(a.body.slice(0, 80))}` : ''}`);
  io.out(`  ${pad('outcome')}${h.outcome}`);
}
