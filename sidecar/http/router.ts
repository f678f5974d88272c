/**
 * The router: the last (and for now only) stage of the HTTP pipeline. Matches the request against
 * the listener's compiled route table and runs the action: a direct response, a redirect, or a
 * forward to a cluster (weighted split picked per request).
 */
import type { RouteTable, RedirectRoute } from '../routing/route-table.js';
import { pickWeighted, rewritePath } from '../routing/route-table.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import type { Downstream, ResponseHeaders } from './downstream.js';
import { Exchange } from './exchange.js';
import { editResponse } from './headers.js';
import { respondError } from './respond.js';
import type { RbacDecision, RbacEngine } from './rbac.js';
import type { RouterTracing } from './exchange.js';
import { transcode } from './transcode.js';
import { reverseTranscode } from './reverse.js';
import { answerPreflight, forwardGrpcWeb, isGrpcWeb, isPreflight } from './grpc-web.js';
import type { Transcoder } from '../../common/transcode/transcoder.js';
import { DEFAULT_PATH_OPTIONS, normalizePath, type PathOptions } from './uri.js';
import { UpgradeExchange } from './upgrade.js';
import type { H1Downstream } from './h1-downstream.js';

const NO_UPGRADES: ReadonlySet<string> = new Set();

/** What the router needs from the sidecar's current config. */
export interface RouterContext {
  routeTable(): RouteTable | undefined;
  cluster(name: string): UpstreamCluster | undefined;
  /** The listener's authorization (inbound), if any. */
  rbac?(): RbacEngine | undefined;
  /** Called with every denial (the sidecar logs it, naming the rule). */
  onDeny?(d: Downstream, decision: RbacDecision): void;
  /** The listener's tracing (spans are made only when it is active). */
  tracing?: RouterTracing;
  /** The listener's JSON → gRPC transcoder, if any. */
  transcoder?(): Transcoder | undefined;
  /** Whether the listener has the grpc_web filter (gRPC-Web clients of a gRPC app). */
  grpcWeb?(): boolean;
  /** The listener's path normalization (DEFAULT_PATH_OPTIONS until its config arrived). */
  paths?(): PathOptions;
  /** Upgrade types the listener allows (its upgrade_configs); a route may enable or disable one. */
  upgrades?(): ReadonlySet<string>;
}

/** Runs the listener's RBAC filters; answers 403 / PERMISSION_DENIED and returns false on a denial. */
export function authorize(d: Downstream, ctx: RouterContext): boolean {
  const rbac = ctx.rbac?.();
  if (!rbac) return true;
  const decision = rbac.evaluate({ method: d.method, path: d.path, header: (n) => d.header(n), principal: d.principal });
  if (decision.allowed) return true;
  ctx.onDeny?.(d, decision);
  respondError(d, 'RBAC_DENIED', `RBAC: access denied (${decision.reason})`);
  return false;
}

function redirectLocation(d: Downstream, r: RedirectRoute): string {
  const scheme = r.scheme ?? 'http';
  let host = r.host ?? d.authority;
  if (r.port !== undefined) host = `${host.replace(/:\d+$/, '')}:${r.port}`;
  else if (r.scheme && r.host === undefined) host = host.replace(/:\d+$/, '');
  const path = r.path ?? rewritePath(d.path, r);
  return `${scheme}://${host}${path}${r.stripQuery ? '' : d.search}`;
}

export function route(d: Downstream, ctx: RouterContext): void {
  if (!d.authority) {
    respondError(d, 'BAD_REQUEST', 'the request has no Host or :authority');
    return;
  }
  // Routes, policies and the upstream all see the normalized path.
  const np = normalizePath(d.path, ctx.paths?.() ?? DEFAULT_PATH_OPTIONS);
  if (typeof np !== 'string') {
    if (np.kind === 'reject') respondError(d, 'BAD_REQUEST', np.reason);
    else d.respondSimple(307, { location: np.path + d.search }, '');
    return;
  }
  d.path = np;
  if (!authorize(d, ctx)) return;
  const table = ctx.routeTable();
  if (!table) {
    respondError(d, 'NOT_READY', 'no route configuration received from the control plane yet');
    return;
  }
  const r = table.match(d.authority, d.path, d.search, d);
  if (!r) {
    respondError(d, 'NO_ROUTE', `no route for ${d.method} ${d.authority}${d.path}`);
    return;
  }
  d.routeName = r.name;
  if (r.kind === 'direct') {
    const h: ResponseHeaders = { 'content-type': 'text/plain; charset=utf-8' };
    editResponse(h, r.resRemove, r.resAdd);
    d.respondSimple(r.status, h, r.body);
    return;
  }
  if (r.kind === 'redirect') {
    const h: ResponseHeaders = { location: redirectLocation(d, r) };
    editResponse(h, r.resRemove, r.resAdd);
    d.respondSimple(r.status, h, '');
    return;
  }
  const name = r.cluster ?? (r.weighted ? pickWeighted(r.weighted) : '');
  d.clusterName = name;
  const cluster = ctx.cluster(name);
  if (!cluster) {
    respondError(d, 'NO_HEALTHY_UPSTREAM', `cluster ${name} is not known (yet)`);
    return;
  }
  if (d.upgrade !== undefined) {
    const allowed = r.upgrades?.get(d.upgrade) ?? (ctx.upgrades?.() ?? NO_UPGRADES).has(d.upgrade);
    if (!allowed) {
      respondError(d, 'UPGRADE_NOT_ALLOWED', `Upgrade '${d.upgrade}' is not enabled for this route`);
      return;
    }
    new UpgradeExchange(d as H1Downstream, r, cluster).start();
    return;
  }
  if (r.reverse && d.grpc && !isGrpcWeb(d)) return reverseTranscode(d, r.reverse, r, cluster, ctx.tracing);
  if (ctx.grpcWeb?.()) {
    if (isPreflight(d)) return answerPreflight(d);
    if (isGrpcWeb(d)) return forwardGrpcWeb(d, r, cluster, ctx.tracing);
  }
  if (!d.grpc) {
    const t = ctx.transcoder?.();
    const m = t?.match(d.method, d.path);
    if (m) {
      transcode(d, m, t!, r, cluster, ctx.tracing);
      return;
    }
  }
  new Exchange(d, r, cluster, ctx.tracing).start();
}
