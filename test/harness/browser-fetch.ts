/**
 * fetch as a page on `origin` sees a cross-origin response, for gRPC-Web tests without a browser:
 * the request goes to a loopback listener with a chosen Host (Node's fetch will not set Host);
 * a response that does not allow the origin is a network error ("Failed to fetch", which
 * connect-web reports as code Unknown), and headers that access-control-expose-headers does not
 * name (other than the CORS-safelisted ones) are hidden from the page, as a browser hides them.
 */
import http from 'node:http';
import { Readable } from 'node:stream';

/** Response headers a page may read without them being exposed. */
const SAFELISTED = new Set(['cache-control', 'content-language', 'content-length', 'content-type', 'expires', 'last-modified', 'pragma']);

/** One HTTP/1.1 request through node:http, as a fetch Response (nothing hidden). */
export function rawFetch(port: number, host: string, path: string, headers: Headers, body: Buffer | undefined, method = 'POST'): Promise<Response> {
  const h: Record<string, string> = {};
  headers.forEach((v, k) => (h[k] = v));
  h.host = host;
  return new Promise<Response>((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers: h }, (res) => {
      const rh = new Headers();
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) rh.set(k, Array.isArray(v) ? v.join(', ') : v);
      const noBody = res.statusCode === 204 || res.statusCode === 304 || method === 'HEAD';
      if (noBody) res.resume();
      resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream), { status: res.statusCode ?? 0, headers: rh }));
    });
    r.on('error', reject);
    r.setTimeout(10_000, () => r.destroy(new Error(`timeout: ${method} ${host}${path}`)));
    r.end(body);
  });
}

/** A fetch for connect-web's transports that behaves like a page on `origin`. */
export function browserFetch(port: number, host: string, origin: string): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    headers.set('origin', origin);
    const res = await rawFetch(port, host, url.pathname + url.search, headers, init?.body ? Buffer.from(init.body as Uint8Array) : undefined, init?.method ?? 'POST');
    const allow = res.headers.get('access-control-allow-origin');
    if (allow !== origin && allow !== '*') throw new TypeError('Failed to fetch');
    const exposed = new Set((res.headers.get('access-control-expose-headers') ?? '').split(',').map((x) => x.trim().toLowerCase()));
    const visible = new Headers();
    res.headers.forEach((v, k) => {
      if (SAFELISTED.has(k) || exposed.has(k)) visible.set(k, v);
    });
    return new Response(res.body, { status: res.status, headers: visible });
  }) as typeof fetch;
}
