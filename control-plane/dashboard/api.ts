/**
 * The admin API's read endpoints the dashboard needs beyond what the CLI uses:
 *
 *   GET /v1/graph[?windowMs=]                         -> {windowMs, nodes: GraphNode[], edges: EdgeRow[]}
 *   GET /v1/history[?limit=]                          -> {items: HistoryEntry[]}   (this replica's, in memory;
 *                                                      the admin server merges the other replicas')
 *   GET /v1/resources/{kind}/{namespace}/{name}       -> {resource, yaml}
 *   GET /v1/resources/{kind}/{namespace}/{name}/proxies -> {items: AffectedProxy[]} (this replica's; the
 *                                                      admin server adds the other replicas')
 *
 * Authentication is the admin server's (bearer token or the dashboard session cookie).
 */
import { stringify } from 'yaml';
import { WeftError } from '../../common/errors.js';
import { KINDS } from '../config/model.js';
import { presentResource } from '../config/kinds/index.js';
import type { Kind } from '../config/types.js';
import type { ControlPlane } from '../control-plane.js';
import type { LoadStore } from '../telemetry/load-store.js';
import type { GraphNode } from './wire.js';
import { affectedProxies } from './affects.js';
import type { ApplyHistory } from './history.js';

export interface DashboardApiDeps {
  controlPlane: ControlPlane;
  history: ApplyHistory;
  /** The load reports of every replica for the window, merged as /v1/stats merges them. */
  loads?: (windowMs: number) => Promise<{ loads: LoadStore; unreachable?: Record<string, string> }>;
}

/** windowMs from a query string: 1 s to 15 min (the same bounds as /v1/stats). */
export function windowOf(q: URLSearchParams): number {
  const w = Number(q.get('windowMs') ?? '60000');
  if (!(w >= 1000 && w <= 15 * 60_000)) throw new WeftError('ADMIN_BAD_REQUEST', 'windowMs: want milliseconds from 1000 (1s) to 900000 (15m)');
  return w;
}

export class DashboardApi {
  readonly #deps: DashboardApiDeps;

  constructor(deps: DashboardApiDeps) {
    this.#deps = deps;
  }

  /** The answer to a GET of `parts` (the path's decoded segments), or undefined when not one of these endpoints. */
  async get(parts: readonly string[], q: URLSearchParams): Promise<unknown> {
    if (parts[0] !== 'v1') return undefined;
    if (parts[1] === 'graph' && parts.length === 2) return this.#graph(windowOf(q));
    if (parts[1] === 'history' && parts.length === 2) {
      const limit = Number(q.get('limit') ?? '50');
      if (!(Number.isInteger(limit) && limit >= 1 && limit <= 100)) throw new WeftError('ADMIN_BAD_REQUEST', 'limit: want an integer from 1 to 100');
      return { items: this.#deps.history.list(limit), scope: 'changes made through this replica since it started' };
    }
    if (parts[1] === 'resources' && (parts.length === 5 || (parts.length === 6 && parts[5] === 'proxies'))) {
      const [, , kind, ns, name] = parts as [string, string, string, string, string];
      if (!KINDS.includes(kind as Kind)) throw new WeftError('ADMIN_BAD_REQUEST', `unknown kind '${kind}' (known: ${KINDS.join(', ')})`);
      const cp = this.#deps.controlPlane;
      const r = cp.model.resources.get(`${kind}/${ns}/${name}`);
      if (!r) throw new WeftError('CONFIG_NOT_FOUND', `${kind} ${ns}/${name} not found (list them with \`weft get ${kind.toLowerCase()}\`)`);
      if (parts.length === 6) return { items: affectedProxies(cp.model, r, cp.connectedNodes(), (id) => cp.cache.getSnapshot(id)) };
      // The YAML of the resource as handed out (a Secret's key redacted), never the stored one.
      const shown = presentResource(r, cp.model);
      return { resource: shown, yaml: stringify(shown.source ?? shown) };
    }
    return undefined;
  }

  async #graph(windowMs: number): Promise<unknown> {
    const merged = await this.#deps.loads?.(windowMs);
    const nodes = new Map<string, GraphNode>();
    const node = (id: string): GraphNode => {
      let n = nodes.get(id);
      if (!n) {
        const dot = id.lastIndexOf('.');
        nodes.set(id, (n = { id, service: dot < 0 ? id : id.slice(0, dot), namespace: dot < 0 ? '' : id.slice(dot + 1), declared: false, metrics: null }));
      }
      return n;
    };
    for (const s of this.#deps.controlPlane.model.services.values()) node(`${s.metadata.name}.${s.metadata.namespace}`).declared = true;
    const edges = merged?.loads.queryEdges({ windowMs }) ?? [];
    for (const row of merged?.loads.query({ windowMs, direction: 'inbound' }) ?? []) {
      const { service, route: _r, direction: _d, ...metrics } = row;
      node(service).metrics = metrics;
    }
    for (const e of edges) {
      if (e.source) node(e.source);
      node(e.destination);
    }
    return { windowMs, nodes: [...nodes.values()].sort((a, b) => a.id.localeCompare(b.id)), edges: edges.filter((e) => e.source), ...(merged?.unreachable ? { unreachable: merged.unreachable } : {}) };
  }
}
