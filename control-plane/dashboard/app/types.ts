/**
 * The admin API's JSON as the dashboard reads it: the fields it uses of each answer. The server's
 * types are the source of truth (named per type); those modules use Node types, which the browser
 * program does not load, so the shapes are restated here.
 */
import type { ProxyStatusJson, SyncState } from '../../admin/proxy-status.js';

export type { ProxyStatusJson, SyncState };

/** telemetry/load-store.ts Totals */
export interface Totals {
  requests: number;
  success: number;
  errors: number;
  successRate: number | null;
  rps: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  sidecars: number;
}

/** dashboard/api.ts GraphNode */
export interface GraphNode {
  id: string;
  service: string;
  namespace: string;
  declared: boolean;
  metrics: Totals | null;
}

/** telemetry/load-store.ts EdgeRow */
export interface EdgeRow extends Totals {
  source: string;
  destination: string;
}

export interface Graph {
  windowMs: number;
  nodes: GraphNode[];
  edges: EdgeRow[];
  unreachable?: Record<string, string>;
}

/** telemetry/trace-store.ts TraceSummary */
export interface TraceSummary {
  traceId: string;
  service: string;
  name: string;
  start: string;
  durationMs: number;
  spans: number;
  services: string[];
  errors: number;
}

/** telemetry/trace-store.ts StoredSpan */
export interface StoredSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  service: string;
  startNs: string;
  endNs: string;
  status: 'UNSET' | 'OK' | 'ERROR';
  statusMessage: string;
  attributes: Record<string, string | number | boolean>;
}

/** config/types.ts MeshResource, as GET /v1/resources presents it */
export interface MeshResource {
  kind: string;
  metadata: { name: string; namespace: string };
}

/** dashboard/affects.ts AffectedProxy */
export interface AffectedProxy {
  nodeId: string;
  role: string;
  service?: string;
  namespace: string;
  via: string[];
}

/** dashboard/history.ts HistoryEntry */
export interface HistoryEntry {
  revision: number;
  at: string;
  changes: Array<{ key: string; action: string }>;
}

/** GET /v1/proxies/{id}/secrets */
export interface ProxySecrets {
  workloadCertificate: { spiffeId: string; serial: string; notAfter: string; issuedAt: string } | null;
  servingCertificates: Array<{ name: string; names: string[]; notAfter: string }>;
}
