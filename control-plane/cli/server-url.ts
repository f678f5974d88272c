/**
 * The --server address as operators type it, and what to tell them when it was not the admin API.
 * `127.0.0.1:15014` (no scheme, as kubectl takes it) means http://127.0.0.1:15014: the admin API
 * serves plain HTTP/1.1. A URL is taken as given (http or https, behind a TLS proxy).
 */
import { WeftError } from '../../common/errors.js';

export const ADMIN_PORT = 15014;
const XDS_PORT = 15010;
const OTLP_PORT = 4318;

/** The admin API base URL for --server / WEFT_SERVER (no trailing slash). */
export function adminServerUrl(raw: string, flag = '--server'): string {
  const s = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw bad(raw, flag, 'is not HOST:PORT or a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad(raw, flag, `has scheme ${url.protocol.slice(0, -1)}; the admin API is http://HOST:PORT`);
  if (!url.hostname) throw bad(raw, flag, 'names no host');
  if (url.search || url.hash) throw bad(raw, flag, 'has a query; give only the address');
  // A path is kept as a prefix (an admin API behind a reverse proxy at https://host/weft); the
  // API's own paths are a mistake.
  const prefix = url.pathname.replace(/\/+$/, '');
  if (/(^|\/)(v1|dashboard)(\/|$)/.test(prefix)) throw bad(raw, flag, `has the API path ${prefix}; give only the address (and a reverse proxy's prefix, if any)`);
  return `${url.protocol}//${url.host}${prefix}`;
}

function bad(raw: string, flag: string, why: string): WeftError {
  return new WeftError('CLI_USAGE', `${flag} ${JSON.stringify(raw)} ${why}; want the control plane's admin address, e.g. 127.0.0.1:${ADMIN_PORT} or http://cp.example:${ADMIN_PORT}`);
}

/**
 * A hint for a failed connection to `server`: a TLS error against the plain-HTTP admin API, or a
 * port that is some other Weft port. Empty when there is nothing more specific to say.
 */
export function connectionHint(server: string, cause: { code?: string; message?: string } | undefined): string {
  const url = new URL(server);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const text = `${cause?.code ?? ''} ${cause?.message ?? ''}`;
  const hints: string[] = [];
  if (url.protocol === 'https:' && /SSL|TLS|EPROTO|wrong version number|packet length/i.test(text)) {
    hints.push(`${server} does not speak TLS: the admin API serves plain HTTP, try --server http://${url.host}`);
  }
  if (port === XDS_PORT) hints.push(`port ${port} is xDS (proxies connect there), not the admin API: the admin port is --admin-address of \`weft control-plane\`, default ${ADMIN_PORT}`);
  else if (port === OTLP_PORT) hints.push(`port ${port} is the OTLP trace receiver, not the admin API (default port ${ADMIN_PORT})`);
  else if (hints.length === 0 && /HPE_|UND_ERR_SOCKET|other side closed/.test(text)) hints.push(`something listens on port ${port} but does not answer as the admin API (plain HTTP/1.1): is it the admin port (--admin-address of \`weft control-plane\`, default ${ADMIN_PORT})?`);
  else if (port !== ADMIN_PORT && hints.length === 0 && /ECONNREFUSED/.test(text)) hints.push(`nothing listens on port ${port}; the admin API's default port is ${ADMIN_PORT}`);
  return hints.map((h) => `\n  ${h}`).join('');
}

/** What to say when a server answered, but not as the admin API does (HTML, gRPC, another service). */
export function notAdminApi(server: string, status: number, body: string): string {
  return `${server} answered ${status} with something other than the admin API's JSON (${JSON.stringify(body.slice(0, 120))}).\n  Is it the control plane's admin address (--admin-address of \`weft control-plane\`, default 127.0.0.1:${ADMIN_PORT})?`;
}
