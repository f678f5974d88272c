/**
 * The trace store's JSON (GET /v1/traces, /v1/traces/{id}): imported by the store, the CLI and the
 * dashboard's browser program, so this module imports nothing.
 */

export type AttrValue = string | number | boolean;

export interface StoredSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: 'internal' | 'server' | 'client' | 'producer' | 'consumer' | 'unspecified';
  /** resource service.name */
  service: string;
  /** Unix nanoseconds, as decimal strings (JSON-safe). */
  startNs: string;
  endNs: string;
  status: 'UNSET' | 'OK' | 'ERROR';
  statusMessage: string;
  attributes: Record<string, AttrValue>;
}

export interface TraceSummary {
  traceId: string;
  /** The root span's service and name (or the earliest span's, if the root has not arrived). */
  service: string;
  name: string;
  start: string;
  durationMs: number;
  spans: number;
  services: string[];
  errors: number;
}
