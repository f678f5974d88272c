/**
 * What makes a request a gRPC-Web call, and the CORS headers the sidecar promises browsers that
 * make one: read by the gRPC-Web translation (grpc-web.ts) for preflights and replies, and by the
 * one answer path (respond.ts) for the errors the sidecar makes itself, so a browser sees the
 * same policy on both and can read `grpc-status` instead of reporting a CORS failure.
 *
 * The policy (docs/protocols.md#grpc-web): any origin that asks is named back
 * (`access-control-allow-origin: <origin>`, `vary: origin`); the gRPC status headers and
 * `x-weft-error` are exposed; a preflight allows POST and the headers it asked for.
 */
import type { RequestHead as Downstream, ResponseHeaders } from './filter.js';

import { GRPC_WEB_ALLOW_HEADERS, GRPC_WEB_ALLOW_METHODS, GRPC_WEB_EXPOSE, GRPC_WEB_MAX_AGE } from '../../common/grpc-web.js';

/** How the caller frames messages: binary, or base64 text (`application/grpc-web-text...`). */
export interface GrpcWebCall {
  readonly text: boolean;
  /** The caller's content type (without parameters), which the reply repeats. */
  readonly contentType: string;
}

const CONTENT_TYPE = /^application\/grpc-web(-text)?(\+[a-z0-9.-]+)?$/;

/** The gRPC-Web form of a request from its content type; undefined for anything else. */
export function grpcWebCall(d: Pick<Downstream, 'header'>): GrpcWebCall | undefined {
  const raw = d.header('content-type');
  if (raw === undefined || !raw.startsWith('application/grpc-web')) return undefined;
  const ct = raw.split(';', 1)[0]!.trim().toLowerCase();
  const m = CONTENT_TYPE.exec(ct);
  return m ? { text: m[1] !== undefined, contentType: ct } : undefined;
}

/** A CORS preflight (OPTIONS with an origin and Access-Control-Request-Method). */
export function isPreflight(d: Pick<Downstream, 'method' | 'header'>): boolean {
  return d.method === 'OPTIONS' && d.header('access-control-request-method') !== undefined;
}

/** A preflight for a gRPC-Web call: the browser announces the x-grpc-web header every gRPC-Web client sends. */
export function isGrpcWebPreflight(d: Pick<Downstream, 'method' | 'header'>): boolean {
  if (!isPreflight(d) || d.header('origin') === undefined) return false;
  return (d.header('access-control-request-headers') ?? '').toLowerCase().split(',').some((h) => h.trim() === 'x-grpc-web');
}

/** CORS headers for a reply to a gRPC-Web call (none without an Origin). */
export function grpcWebCors(d: Pick<Downstream, 'header'>): ResponseHeaders {
  const origin = d.header('origin');
  return origin ? { 'access-control-allow-origin': origin, 'access-control-expose-headers': GRPC_WEB_EXPOSE, vary: 'origin' } : {};
}

/** The headers of the 204 answer to a preflight. */
export function preflightHeaders(d: Pick<Downstream, 'header'>): ResponseHeaders {
  return {
    ...grpcWebCors(d),
    'access-control-allow-origin': d.header('origin') ?? '*',
    'access-control-allow-methods': GRPC_WEB_ALLOW_METHODS,
    'access-control-allow-headers': d.header('access-control-request-headers') ?? GRPC_WEB_ALLOW_HEADERS,
    'access-control-max-age': GRPC_WEB_MAX_AGE,
  };
}
