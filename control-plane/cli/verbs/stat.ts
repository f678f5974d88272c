/** `weft stat [service/NAME] [--by consumer]`: golden metrics aggregated by the control plane from proxy load reports. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { warnUnreachable } from '../replicas-warn.js';
import { parseDurationFlag } from '../flags.js';
import type { ConsumerStatRow, StatRow } from '../../telemetry/load-store.js';
import { NAMESPACE_OPTIONS, OUTPUT_OPTION, namespaceOf, outputFormat, printData } from '../output.js';

const usage = `Usage:
  weft stat [service/NAME[.NAMESPACE]] [-n NS | -A] [--window D] [--direction inbound|outbound|gateway] [-o table|wide|yaml|json]
  weft stat --by consumer [service/NAME[.NAMESPACE]] [--window D] [--direction gateway|inbound|outbound] [-o table|wide|yaml|json]

Success rate, request rate and latency percentiles per service (or per route of one service),
over the last --window (default 1m, at most 15m). Figures come from the sidecars' load reports
(LRS, every --load-report-interval of the control plane, default 5s).

  --direction inbound   (default) measured by the destination's own sidecars, for all callers
  --direction outbound  measured by the callers' sidecars (includes the network hop)
  --direction gateway   measured by the gateways (edge traffic)
  -n, --namespace NS    services of this namespace (default: default); -A: every namespace.
                        service/NAME without .NAMESPACE is in -n's namespace
  -o, --output FORMAT   table (default), wide (adds direction and error count), yaml or json

--by consumer: one row per API consumer (the Consumer a request authenticated as; anonymous:
none; other: past the proxies' --metrics-max-consumers), default direction gateway: requests,
RPS, error share (failures and the proxy's own refusals: API keys, JWT, rate limits), latency
percentiles, and requests refused RATE_LIMITED or QUOTA_EXCEEDED.

A request fails when it got no response, a 5xx, or a gRPC UNKNOWN, DEADLINE_EXCEEDED,
UNIMPLEMENTED, INTERNAL, UNAVAILABLE or DATA_LOSS. RPS is requests per second of the time the
reports cover; P50/P95/P99 are read from 5%-wide latency buckets.

${CLIENT_USAGE}

Examples:
  weft stat
  weft stat service/orders --window 5m
  weft stat --by consumer --window 5m`;

const pct = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(2)}%`);
const ms = (n: number | null) => (n === null ? '-' : n >= 100 ? `${n.toFixed(0)}ms` : n >= 10 ? `${n.toFixed(1)}ms` : `${n.toFixed(2)}ms`);

export const stat: Verb = {
  name: 'stat',
  summary: 'success rate, req/s and latency percentiles per service or route',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, ...NAMESPACE_OPTIONS, ...OUTPUT_OPTION, window: { type: 'string', default: '1m' }, direction: { type: 'string' }, by: { type: 'string', default: 'service' } },
      allowPositionals: true,
    });
    let windowMs: number;
    try {
      windowMs = parseDurationFlag(values.window!);
    } catch (e) {
      throw usageError(`--window: ${(e as Error).message}`);
    }
    if (windowMs < 1000 || windowMs > 15 * 60_000) throw usageError(`--window: want 1s to 15m, got ${values.window}`);
    if (values.by !== 'service' && values.by !== 'consumer') throw usageError(`--by: want service or consumer, got '${values.by}'`);
    const byConsumer = values.by === 'consumer';
    const direction = values.direction ?? (byConsumer ? 'gateway' : 'inbound');
    if (direction !== 'inbound' && direction !== 'outbound' && direction !== 'gateway') throw usageError(`--direction: want inbound, outbound or gateway, got '${direction}'`);
    if (positionals.length > 1) throw usageError('stat takes at most one KIND/NAME');
    const format = outputFormat(values.output, ['table', 'wide', 'yaml', 'json']);
    const wide = format === 'wide';
    const ns = namespaceOf(values);
    let service: string | undefined;
    if (positionals[0]) {
      const m = /^(?:service|svc)\/([a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)?)$/.exec(positionals[0]);
      if (!m) throw usageError(`'${positionals[0]}': want service/NAME or service/NAME.NAMESPACE`);
      service = m[1]!.includes('.') ? m[1]! : `${m[1]}.${ns ?? 'default'}`;
    }
    const q = new URLSearchParams({ windowMs: String(windowMs), direction });
    if (service) q.set('service', service);
    if (byConsumer) q.set('by', 'consumer');
    const client = new AdminClient(values);
    if (byConsumer) {
      const r = await client.request<{ unreachable?: Record<string, string>; items: ConsumerStatRow[] }>('GET', `/v1/stats?${q}`);
      warnUnreachable(r.unreachable, io);
      if (format === 'json' || format === 'yaml') await printData(io, format, r.items);
      else if (!r.items.length) io.out(`no requests reported in the last ${values.window}${service ? ` for ${service}` : ''} (${direction})`);
      else
        io.out(
          table(
            ['CONSUMER', 'REQUESTS', 'RPS', 'ERRORS', 'P50', 'P99', 'RATE-LIMITED', 'SIDECARS', ...(wide ? ['DIRECTION', 'ERROR COUNT'] : [])],
            r.items.map((x) => [x.consumer, String(x.requests), x.rps.toFixed(1), pct(x.errorRate), ms(x.p50Ms), ms(x.p99Ms), String(x.rateLimited), String(x.sidecars), ...(wide ? [x.direction, String(x.errors)] : [])]),
          ),
        );
      return 0;
    }
    const r = await client.request<{ unreachable?: Record<string, string>; items: StatRow[] }>('GET', `/v1/stats?${q}`);
    warnUnreachable(r.unreachable, io);
    // Services are `NAME.NAMESPACE`: -n keeps one namespace's (a named service is already one).
    const items = service || ns === undefined ? r.items : r.items.filter((x) => x.service.endsWith(`.${ns}`));
    if (format === 'json' || format === 'yaml') {
      await printData(io, format, items);
      return 0;
    }
    if (!items.length) {
      io.out(`no requests reported in the last ${values.window}${service ? ` for ${service}` : ns === undefined ? '' : ` in namespace ${ns} (every namespace: -A)`} (${direction})`);
      return 0;
    }
    const head = service ? ['ROUTE'] : ['SERVICE'];
    io.out(
      table(
        [...head, 'SUCCESS', 'RPS', 'P50', 'P95', 'P99', 'REQUESTS', 'SIDECARS', ...(wide ? ['DIRECTION', 'ERRORS'] : [])],
        items.map((x) => [service ? x.route || '(none)' : x.service, pct(x.successRate), x.rps.toFixed(1), ms(x.p50Ms), ms(x.p95Ms), ms(x.p99Ms), String(x.requests), String(x.sidecars), ...(wide ? [x.direction, String(x.errors)] : [])]),
      ),
    );
    return 0;
  },
};
