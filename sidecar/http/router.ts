/**
 * The router: the terminal filter of every chain. The connection manager (hcm.ts) matched the
 * route before the chain ran (filters read it from the info record); the router runs its action:
 * a direct response, a redirect, or a forward to a cluster (a weighted split picked per request),
 * with the route's mirrors, as an ordinary Exchange or, for an HTTP/1.1 Upgrade the listener or
 * route allows, as an UpgradeExchange.
 */
import type { RedirectRoute } from '../routing/route-table.js';
import { pickWeighted, rewritePath } from '../routing/route-table.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import type { Handler, RequestHead, ResponseHeaders } from './filter.js';
import { Exchange } from './exchange.js';
import type { RouterTracing } from '../telemetry/tracing.js';
import { editResponse } from './headers.js';
import { respondError, respondLocal } from './respond.js';
import { UpgradeExchange } from './upgrade.js';
import { H1Downstream } from './h1-downstream.js';
import { mirror } from './mirror.js';

/** What the router needs from the sidecar's current config. */
export interface RouterContext {
  cluster(name: string): UpstreamCluster | undefined;
  /** Upgrade types the listener allows (its upgrade_configs); a route may enable or disable one. */
  readonly upgrades: ReadonlySet<string>;
  /** The listener's tracing (spans are made only when it is active). */
  readonly tracing?: RouterTracing;
}

/** The port a scheme implies, left out of a Location (Gateway API RequestRedirect, Envoy). */
const WELL_KNOWN_PORT: Record<string, number> = { http: 80, https: 443 };

function redirectLocation(d: RequestHead, r: RedirectRoute): string {
  const scheme = r.scheme ?? (d.secure ? 'https' : 'http');
  let host = r.host ?? d.authority;
  if (r.port !== undefined) host = r.port === WELL_KNOWN_PORT[scheme] ? host.replace(/:\d+$/, '') : `${host.replace(/:\d+$/, '')}:${r.port}`;
  else if (r.scheme && r.host === undefined) host = host.replace(/:\d+$/, '');
  const path = r.path ?? rewritePath(d.path, r);
  return `${scheme}://${host}${path}${r.stripQuery ? '' : d.search}`;
}

/** The terminal handler of a listener's chains. */
export function router(ctx: RouterContext): Handler {
  const tracing = ctx.tracing;
  return (req, res, info) => {
    const r = info.route;
    if (!r) {
      respondError(req, res, info, 'NO_ROUTE', `no route for ${req.method} ${req.authority}${req.path}`);
      return;
    }
    if (r.kind === 'direct') {
      const h: ResponseHeaders = { 'content-type': 'text/plain; charset=utf-8' };
      editResponse(h, r.resRemove, r.resAdd);
      respondLocal(res, r.status, h, r.body);
      return;
    }
    if (r.kind === 'redirect') {
      const h: ResponseHeaders = { location: redirectLocation(req, r) };
      editResponse(h, r.resRemove, r.resAdd);
      respondLocal(res, r.status, h, '');
      return;
    }
    const name = r.cluster ?? (r.weighted ? pickWeighted(r.weighted) : '');
    info.clusterName = name;
    const cluster = ctx.cluster(name);
    if (!cluster) {
      respondError(req, res, info, 'NO_HEALTHY_UPSTREAM', `cluster ${name} is not known (yet)`);
      return;
    }
    if (req.upgrade !== undefined) {
      const allowed = r.upgrades?.get(req.upgrade) ?? ctx.upgrades.has(req.upgrade);
      // An Upgrade needs the client's connection itself: only an HTTP/1.1 request as received has it.
      if (!allowed || !(req instanceof H1Downstream) || res !== req) {
        respondError(req, res, info, 'UPGRADE_NOT_ALLOWED', `Upgrade '${req.upgrade}' is not enabled for this route`);
        return;
      }
      new UpgradeExchange(req, info, r, cluster).start();
      return;
    }
    const ex = new Exchange(req, res, info, r, cluster, tracing);
    ex.start();
    if (r.mirrors) mirror(req, ex.body, r.mirrors, ctx.cluster);
  };
}
