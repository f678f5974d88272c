/**
 * The JSON of the dashboard's own endpoints (dashboard/api.ts), imported by the server and by the
 * browser program (app/), so this module imports only other import-free type modules.
 */
import type { Totals } from '../telemetry/stat-types.js';

/** A service of the graph: its inbound golden metrics over the window (null: no inbound traffic seen). */
export interface GraphNode {
  /** `<service>.<namespace>` */
  id: string;
  service: string;
  namespace: string;
  /** Declared by a Service resource (false: only seen in load reports). */
  declared: boolean;
  metrics: Totals | null;
}

/** A proxy a resource affects (GET /v1/resources/K/NS/N/proxies). */
export interface AffectedProxy {
  nodeId: string;
  role: string;
  service?: string;
  namespace: string;
  /** Why: the xDS resources (or the Gateway) that tie it to the resource, at most three. */
  via: string[];
  /** The control-plane replica the proxy is connected to (replicas on etcd). */
  replica?: string;
}

/** One change of the apply history (GET /v1/history). */
export interface HistoryEntry {
  revision: number;
  /** ISO time the change was committed. */
  at: string;
  /** The resources it changed (`Kind/namespace/name`), each with what happened to it. */
  changes: Array<{ key: string; action: 'created' | 'configured' | 'deleted' }>;
  /** The control-plane replica the change was made through (replicas on etcd). */
  replica?: string;
}
