/**
 * The admin API's JSON as the dashboard reads it: the server's own types, from modules that import
 * nothing with Node types (this program has none), plus the few fields read of answers whose
 * server types live in Node modules.
 */
export type { ProxyStatusJson, SyncState } from '../../admin/proxy-status.js';
export type { EdgeRow, Totals } from '../../telemetry/stat-types.js';
export type { StoredSpan, TraceSummary } from '../../telemetry/trace-types.js';
export type { AffectedProxy, GraphNode, HistoryEntry } from '../wire.js';
import type { EdgeRow } from '../../telemetry/stat-types.js';
import type { GraphNode } from '../wire.js';

/** GET /v1/graph (dashboard/api.ts) */
export interface Graph {
  windowMs: number;
  nodes: GraphNode[];
  edges: EdgeRow[];
  unreachable?: Record<string, string>;
}

/** config/types.ts MeshResource, as GET /v1/resources presents it */
export interface MeshResource {
  kind: string;
  metadata: { name: string; namespace: string };
}

/** GET /v1/proxies/{id}/secrets */
export interface ProxySecrets {
  workloadCertificate: { spiffeId: string; serial: string; notAfter: string; issuedAt: string } | null;
  servingCertificates: Array<{ name: string; names: string[]; notAfter: string }>;
}
