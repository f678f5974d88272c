/**
 * The load store's rows as JSON (GET /v1/stats, /v1/graph): imported by the store, the CLI and the
 * dashboard's browser program, so this module imports nothing.
 */

/** The figures of a row of query() and queryEdges(). */
export interface Totals {
  requests: number;
  success: number;
  errors: number;
  /** 0..1; null when nothing finished. */
  successRate: number | null;
  rps: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Sidecars whose reports make up the row. */
  sidecars: number;
}

export interface StatRow extends Totals {
  /** `<service>.<namespace>`; for a per-route query also the route. */
  service: string;
  route?: string;
  direction: string;
}

/** One edge of the service graph (queryEdges): calls from `source` to `destination`, both `<service>.<namespace>`. */
export interface EdgeRow extends Totals {
  /** '' for sidecars that register no service. */
  source: string;
  destination: string;
}
