/**
 * The CORS policy Weft gives gRPC-Web callers (browsers), shared by the translator (which puts it
 * on the inbound virtual hosts of every service with a grpc port, as an Envoy CorsPolicy) and the
 * sidecar's answer path (errors it makes before any policy applies). docs/protocols.md#grpc-web.
 */

/** Response headers a gRPC-Web client must be able to read. */
export const GRPC_WEB_EXPOSE = 'grpc-status,grpc-message,grpc-status-details-bin,x-weft-error';
/** Request headers a preflight allows when it does not list its own. */
export const GRPC_WEB_ALLOW_HEADERS = 'content-type,x-grpc-web,x-user-agent,grpc-timeout,authorization,x-request-id,traceparent,tracestate';
/** Methods a gRPC-Web preflight is allowed. */
export const GRPC_WEB_ALLOW_METHODS = 'POST, OPTIONS';
/** How long a browser may cache the preflight answer (seconds). */
export const GRPC_WEB_MAX_AGE = '86400';
