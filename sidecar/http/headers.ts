/**
 * Header handling between downstream and upstream: hop-by-hop headers dropped (RFC 9110 7.6.1,
 * plus any the Connection header names), x-forwarded-for appended, x-forwarded-proto and
 * x-request-id set when absent, and the route's add/remove edits applied. Works on flat
 * [name, value, ...] arrays so nothing is copied into intermediate objects.
 */
import { HeaderValueOption_HeaderAppendAction as Append } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { HeaderOp } from '../routing/route-table.js';
import { BAD_FIELD_VALUE, CONNECTION_SPECIFIC, LOWER_TOKEN, RESPONSE_HOP } from '../h2/frames.js';
import type { RequestHead, RequestInfo, ResponseHeaders } from './filter.js';
import { lowerName, setTest } from './header-names.js';
import { newRequestId } from './request-id.js';

const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'expect', 'host', 'http2-settings', 'trailer']);
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const isHop = setTest(HOP);
const isResponseHop = setTest(RESPONSE_HOP);

function connectionTokens(v: string | undefined): Set<string> | undefined {
  if (!v) return undefined;
  let out: Set<string> | undefined;
  for (const t of v.split(',')) {
    const n = t.trim().toLowerCase();
    if (n && n !== 'close' && n !== 'keep-alive' && n !== 'upgrade') (out ??= new Set()).add(n);
  }
  return out;
}

/**
 * x-forwarded-proto: at a gateway (edge) listener, the scheme the client really used, whatever
 * it claimed (Envoy's use_remote_address); inside the mesh, the header as the calling sidecar set
 * it (a hop's mTLS is transport, not the request's scheme), else the connection's scheme.
 */
function forwardedProto(d: RequestHead, info: RequestInfo, xfp: string | undefined): string {
  if (info.edge) return d.secure ? 'https' : 'http';
  return xfp ?? (d.secure ? 'https' : 'http');
}

/** Flat [name, value, ...] request headers for the upstream; `host` carries the authority. */
export function requestHeaders(d: RequestHead, info: RequestInfo, authority: string, remove: readonly string[], add: readonly HeaderOp[], keepTeTrailers: boolean): string[] {
  const raw = d.rawPairs();
  const extra = d.h2 ? undefined : connectionTokens(d.header('connection'));
  const out: string[] = [];
  let xff: string | undefined;
  let xfp: string | undefined;
  let rid: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    const v = raw[i + 1]!;
    if (isHop(n)) {
      if (n === 'te' && keepTeTrailers && v.toLowerCase().includes('trailers')) out.push('te', 'trailers');
      continue;
    }
    if (extra?.has(n)) continue;
    if (remove.length && remove.includes(n)) continue;
    if (n === 'x-forwarded-for') xff = xff ? `${xff}, ${v}` : v;
    else if (n === 'x-forwarded-proto') xfp ??= v;
    else if (n === 'x-request-id') rid ??= v;
    else out.push(n, v);
  }
  const remote = d.remoteAddress;
  info.requestId = rid && REQUEST_ID.test(rid) ? rid : newRequestId();
  out.push('host', authority, 'x-forwarded-for', xff ? `${xff}, ${remote}` : remote, 'x-forwarded-proto', forwardedProto(d, info, xfp), 'x-request-id', info.requestId);
  if (add.length) applyOps(out, add);
  return out;
}

function applyOps(out: string[], ops: readonly HeaderOp[]): void {
  for (const op of ops) {
    let found = -1;
    for (let i = 0; i < out.length; i += 2) if (out[i] === op.name) found = i;
    switch (op.action) {
      case Append.ADD_IF_ABSENT:
        if (found < 0) out.push(op.name, op.value);
        break;
      case Append.OVERWRITE_IF_EXISTS:
      case Append.OVERWRITE_IF_EXISTS_OR_ADD:
        if (found >= 0) {
          for (let i = out.length - 2; i >= 0; i -= 2) if (out[i] === op.name) out.splice(i, 2);
          out.push(op.name, op.value);
        } else if (op.action === Append.OVERWRITE_IF_EXISTS_OR_ADD) out.push(op.name, op.value);
        break;
      default:
        out.push(op.name, op.value);
    }
  }
}

/** The flat list as an HTTP/2 header object with pseudo-headers; `host` becomes `:authority`. */
/** Headers an HTTP/2 request must not carry (RFC 9113 8.2.2); `te` only as `trailers`. */

/**
 * Flat request headers ([name, value, ...], `host` for the authority) as an HTTP/2 header list:
 * pseudo-headers first, connection-specific headers dropped. A name or value HTTP/2 cannot carry
 * is returned as a message (the attempt fails as a protocol error, as HTTP/1.1's does).
 */
export function h2RequestHeaders(flat: string[], method: string, path: string, defaultAuthority: string): string[] | string {
  let authority = defaultAuthority;
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === 'host') authority = flat[i + 1]!;
  const out = [':method', method, ':scheme', 'http', ':authority', authority, ':path', path];
  if (BAD_FIELD_VALUE.test(path) || BAD_FIELD_VALUE.test(authority)) return 'invalid character in the request target';
  for (let i = 0; i < flat.length; i += 2) {
    let n = flat[i]!;
    const v = flat[i + 1]!;
    if (n === 'host' || n === 'http2-settings' || CONNECTION_SPECIFIC.has(n)) continue;
    if (!LOWER_TOKEN.test(n)) {
      n = n.toLowerCase();
      if (!LOWER_TOKEN.test(n)) return `invalid header name ${JSON.stringify(n)}`;
    }
    if (n === 'te' && v !== 'trailers') continue;
    if (BAD_FIELD_VALUE.test(v)) return `invalid character in header ${JSON.stringify(n)}`;
    out.push(n, v);
  }
  return out;
}

function addTo(h: Record<string, string | string[]>, n: string, v: string): void {
  const cur = h[n];
  if (cur === undefined) h[n] = v;
  else if (Array.isArray(cur)) cur.push(v);
  else h[n] = [cur, v];
}

/** Raw response headers ([name, value, ...], as parsed) as an object, hop-by-hop dropped. */
export function fromRaw(raw: Buffer[] | string[] | null): ResponseHeaders {
  const h: Record<string, string | string[]> = {};
  if (!raw) return h;
  for (let i = 0; i < raw.length; i += 2) {
    const n = lowerName(raw[i]!.toString('latin1'));
    if (isResponseHop(n)) continue;
    addTo(h, n, raw[i + 1]!.toString('latin1'));
  }
  return h;
}

/** Applies a route's response header edits in place. */
export function editResponse(h: ResponseHeaders, remove: readonly string[], add: readonly HeaderOp[]): void {
  for (const n of remove) delete h[n];
  for (const op of add) {
    const cur = h[op.name];
    switch (op.action) {
      case Append.ADD_IF_ABSENT:
        if (cur === undefined) h[op.name] = op.value;
        break;
      case Append.OVERWRITE_IF_EXISTS:
        if (cur !== undefined) h[op.name] = op.value;
        break;
      case Append.OVERWRITE_IF_EXISTS_OR_ADD:
        h[op.name] = op.value;
        break;
      default:
        h[op.name] = cur === undefined ? op.value : Array.isArray(cur) ? [...cur, op.value] : [String(cur), op.value];
    }
  }
}
