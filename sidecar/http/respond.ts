/**
 * The one place where errors the sidecar makes itself become responses: an HTTP status with a
 * short text body; for gRPC a trailers-only response with grpc-status and grpc-message; for a
 * gRPC-Web call (a browser) HTTP 200 in the caller's gRPC-Web content type, the status in the
 * headers and in a trailer frame, with the CORS headers of the gRPC-Web policy
 * (grpc-web-cors.ts), so the browser reads UNAVAILABLE rather than a CORS failure; and always
 * the `x-weft-error` header naming the code (docs/errors.md). Nothing else writes them.
 */
import type { ErrorCode } from '../../common/errors.js';
import type { RequestHead, RequestInfo, ResponseHeaders, ResponseSink } from './filter.js';
import { grpcWebCall, grpcWebCors, isGrpcWebPreflight, preflightHeaders, type GrpcWebCall } from './grpc-web-cors.js';

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  NO_ROUTE: 404,
  BAD_REQUEST: 400,
  REQUEST_TOO_LARGE: 413,
  BODY_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  URI_TOO_LONG: 414,
  HEADERS_TIMEOUT: 408,
  UPSTREAM_TIMEOUT: 504,
  UPSTREAM_CONNECT_FAILURE: 503,
  UPSTREAM_RESET: 503,
  UPSTREAM_PROTOCOL: 502,
  NO_HEALTHY_UPSTREAM: 503,
  CIRCUIT_OPEN: 503,
  NOT_READY: 503,
  RBAC_DENIED: 403,
  UPGRADE_NOT_ALLOWED: 403,
  CACHE_ONLY_IF_CACHED: 504,
  JWT_MISSING: 401,
  JWT_INVALID: 401,
  JWT_FORBIDDEN: 403,
  API_KEY_MISSING: 401,
  API_KEY_INVALID: 401,
  CONSUMER_FORBIDDEN: 403,
  API_SUNSET: 410,
  VALIDATION_FAILED: 400,
  TRANSFORM_FAILED: 400,
  AGGREGATION_FAILED: 502,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  RATE_LIMIT_UNAVAILABLE: 503,
};

/** gRPC status codes per error (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
const GRPC_STATUS: Partial<Record<ErrorCode, number>> = {
  NO_ROUTE: 12, // UNIMPLEMENTED
  BAD_REQUEST: 3, // INVALID_ARGUMENT... a malformed request
  REQUEST_TOO_LARGE: 8, // RESOURCE_EXHAUSTED
  BODY_TOO_LARGE: 8, // RESOURCE_EXHAUSTED
  HEADERS_TOO_LARGE: 8, // RESOURCE_EXHAUSTED
  URI_TOO_LONG: 8, // RESOURCE_EXHAUSTED
  HEADERS_TIMEOUT: 4, // DEADLINE_EXCEEDED
  UPSTREAM_TIMEOUT: 4, // DEADLINE_EXCEEDED
  CIRCUIT_OPEN: 14, // UNAVAILABLE (retriable by clients)
  RBAC_DENIED: 7, // PERMISSION_DENIED
  JWT_MISSING: 16, // UNAUTHENTICATED
  JWT_INVALID: 16, // UNAUTHENTICATED
  JWT_FORBIDDEN: 7, // PERMISSION_DENIED
  API_KEY_MISSING: 16, // UNAUTHENTICATED
  API_KEY_INVALID: 16, // UNAUTHENTICATED
  CONSUMER_FORBIDDEN: 7, // PERMISSION_DENIED
  API_SUNSET: 12, // UNIMPLEMENTED: the method is gone, like a missing route
  VALIDATION_FAILED: 3, // INVALID_ARGUMENT
  TRANSFORM_FAILED: 3, // INVALID_ARGUMENT
  RATE_LIMITED: 8, // RESOURCE_EXHAUSTED
  QUOTA_EXCEEDED: 8, // RESOURCE_EXHAUSTED
};

export function httpStatusFor(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

export function grpcStatusFor(code: ErrorCode): number {
  return GRPC_STATUS[code] ?? 14;
}

/**
 * Answers the request with an error the sidecar made. If the response has already started it
 * can only be cut short: the downstream stream is reset.
 */
export function respondError(d: RequestHead, res: ResponseSink, info: RequestInfo, code: ErrorCode, message: string, httpStatus = httpStatusFor(code), grpcStatus = grpcStatusFor(code)): void {
  info.weftError = code;
  if (res.headersSent) {
    res.abort();
    return;
  }
  const status: ResponseHeaders = { 'grpc-status': String(grpcStatus), 'grpc-message': encodeURIComponent(message), 'x-weft-error': code };
  const web = grpcWebCall(d);
  if (web) {
    respondGrpcWebTrailersOnly(d, res, web, status);
    return;
  }
  if (isGrpcWebPreflight(d)) {
    // The browser asks before a gRPC-Web call. Refusing the preflight would surface as a CORS
    // failure with no status at all; answering it lets the call itself come, and get the error
    // (as a gRPC status the page can read). A preflight carries no body and no credentials.
    res.respondSimple(204, { ...preflightHeaders(d), 'x-weft-error': code }, '');
    return;
  }
  if (d.grpc) {
    res.respondTrailersOnly({ ':status': 200, 'content-type': 'application/grpc', ...status });
    return;
  }
  const body = `${code}: ${message}\n`;
  res.respondSimple(httpStatus, { 'content-type': 'text/plain; charset=utf-8', 'x-weft-error': code }, body);
}

/**
 * An error whose details a program reads (a ValidationPolicy's violations): for HTTP callers a
 * JSON body `{error: code, message, ...details}` with `x-weft-error`; a gRPC or gRPC-Web caller
 * gets the same status as respondError gives (the details do not fit a grpc-message).
 */
export function respondErrorJson(d: RequestHead, res: ResponseSink, info: RequestInfo, code: ErrorCode, message: string, details: Record<string, unknown>, httpStatus = httpStatusFor(code)): void {
  if (d.grpc || res.headersSent || grpcWebCall(d) || isGrpcWebPreflight(d)) {
    respondError(d, res, info, code, message, httpStatus);
    return;
  }
  info.weftError = code;
  res.respondSimple(httpStatus, { 'content-type': 'application/json', 'x-weft-error': code }, JSON.stringify({ error: code, message, ...details }));
}

/**
 * A reply the config asks for rather than an error: a direct response, a redirect (a route's, or
 * the path normalization's), a CORS preflight answer. Status, headers and body as configured; a
 * HEAD gets the head only (the sink knows).
 */
export function respondLocal(res: ResponseSink, status: number, headers: ResponseHeaders, body: string): void {
  res.respondSimple(status, headers, body);
}

/**
 * An error for a JSON caller of a gRPC service (the grpc_json_transcoder): the HTTP status, and
 * `{code, message, details}` with the gRPC code, as Envoy's transcoder writes them.
 */
export function respondJsonError(res: ResponseSink, info: RequestInfo, status: number, grpcCode: number, message: string): void {
  info.weftError ||= 'BAD_REQUEST';
  res.respondSimple(status, { 'content-type': 'application/json' }, JSON.stringify({ code: grpcCode, message, details: [] }));
}

/**
 * A gRPC status the sidecar gives a gRPC caller in place of the app's answer (a translation that
 * cannot be made): trailers-only, HTTP 200, `grpc-status` and `grpc-message`.
 */
export function respondGrpcStatus(res: ResponseSink, code: number, message: string): void {
  res.respondTrailersOnly({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) });
}

/**
 * A trailers-only reply to a gRPC-Web call (grpc-web's PROTOCOL-WEB): HTTP 200 in the caller's
 * content type, the CORS headers, `meta` as headers (a trailers-only gRPC response carries its
 * status there, and Envoy's grpc_web filter leaves it there), and its status (`grpc-*`,
 * `x-weft-error`) again in the body as the trailer frame (flag 0x80, `name: value\r\n` lines; base64 in text mode),
 * which is where gRPC-Web clients that only read the body look for it.
 */
export function respondGrpcWebTrailersOnly(d: RequestHead, res: ResponseSink, call: GrpcWebCall, meta: ResponseHeaders): void {
  const headers: ResponseHeaders = { ...grpcWebCors(d) };
  let lines = '';
  for (const [k, v] of Object.entries(meta)) {
    if (k.startsWith(':') || k === 'content-type' || k === 'content-length' || k === 'transfer-encoding') continue;
    headers[k] = v;
    if (k.startsWith('grpc-') || k === 'x-weft-error') lines += `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}\r\n`;
  }
  const text = Buffer.from(lines, 'latin1');
  const frame = Buffer.allocUnsafe(5 + text.length);
  frame[0] = 0x80;
  frame.writeUInt32BE(text.length, 1);
  text.copy(frame, 5);
  const body = call.text ? Buffer.from(frame.toString('base64'), 'latin1') : frame;
  headers['content-type'] = call.contentType;
  headers['content-length'] = body.length;
  res.writeHead(200, headers, false);
  res.write(body);
  res.end(undefined);
}

/**
 * The same for a connection that has no HTTP response object: a malformed request the parser
 * rejected, or an Upgrade that could not be forwarded. Writes a minimal HTTP/1.1 response and
 * closes the socket.
 */
export function respondErrorRaw(socket: { writable: boolean; end(data: string): void; destroy(): void }, code: ErrorCode, message: string, status = httpStatusFor(code), head: 'HEAD' | 'other' | 'unknown' = 'other'): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  // To a HEAD: the same head (content-length included, RFC 9110 section 9.3.2), no body. When
  // it is not known whether the request was a HEAD (the parser stopped in its request line), an
  // empty body, which is right either way.
  const body = head === 'unknown' ? '' : `${code}: ${message}\n`;
  socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\nx-weft-error: ${code}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${head === 'HEAD' ? '' : body}`);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large', 414: 'URI Too Long', 431: 'Request Header Fields Too Large', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
