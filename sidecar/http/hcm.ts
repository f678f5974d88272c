/**
 * The HTTP connection manager's part of every request, before the filter chain: the request must
 * name a host; the path is normalized (RFC 3986 dot segments, merged slashes, escaped slashes) as
 * the listener says, so routes, filters and the upstream all see the same path; the route is
 * matched once and put in the info record; then the listener's chain runs, or the route's own
 * chain when the route overrides a filter's config (typed_per_filter_config). Chains are built
 * when config is applied (runtime.ts); nothing here allocates but the answer to a bad request.
 */
import type { CompiledRoute, RouteTable } from '../routing/route-table.js';
import type { Downstream } from './downstream.js';
import type { Handler, RequestHead, RequestInfo, ResponseSink } from './filter.js';
import { respondError, respondLocal } from './respond.js';
import { DEFAULT_PATH_OPTIONS, normalizePath, type PathOptions } from './uri.js';

/** One listener's compiled request path, as the last applied config made it. */
export interface ListenerChain {
  readonly table: RouteTable;
  readonly paths: PathOptions;
  /** The listener's chain, for requests whose route overrides nothing (and for no route). */
  readonly head: Handler;
  /** Chains of routes that override a filter's config. */
  readonly byRoute: ReadonlyMap<CompiledRoute, Handler>;
}

/** The listener's current chain; undefined until its Listener and RouteConfiguration arrived. */
export type ChainSource = () => ListenerChain | undefined;

export function serve(d: Downstream, chain: ChainSource): void {
  const info = d.info;
  if (!d.authority) {
    respondError(d, d, info, 'BAD_REQUEST', 'the request has no Host or :authority');
    return;
  }
  const c = chain();
  const np = normalizePath(d.path, c?.paths ?? DEFAULT_PATH_OPTIONS);
  if (typeof np !== 'string') {
    if (np.kind === 'reject') respondError(d, d, info, 'BAD_REQUEST', np.reason);
    else respondLocal(d, 307, { location: np.path + d.search }, '');
    return;
  }
  d.path = np;
  if (!c) {
    respondError(d, d, info, 'NOT_READY', 'no route configuration received from the control plane yet');
    return;
  }
  run(c, d, d, info);
}

/** Matches the route (once, into the info record) and runs its chain. */
function run(c: ListenerChain, req: RequestHead, res: ResponseSink, info: RequestInfo): void {
  const r = c.table.match(req.authority, req.path, req.search, req);
  let h = c.head;
  if (r) {
    info.route = r;
    info.routeName = r.name;
    if (c.byRoute.size) h = c.byRoute.get(r) ?? h;
  }
  h(req, res, info);
}

/**
 * A request a filter makes of the listener it runs in (FilterContext.dispatch): its path
 * normalized as a client's would be, then matched and run through the listener's current chain.
 */
export function dispatch(chain: ChainSource, req: RequestHead & { path: string }, res: ResponseSink, info: RequestInfo): void {
  const c = chain();
  if (!c) {
    respondError(req, res, info, 'NOT_READY', 'no route configuration received from the control plane yet');
    return;
  }
  const np = normalizePath(req.path, c.paths);
  if (typeof np !== 'string') {
    respondError(req, res, info, 'BAD_REQUEST', np.kind === 'reject' ? np.reason : `the path normalizes to ${np.path}`);
    return;
  }
  req.path = np;
  run(c, req, res, info);
}
