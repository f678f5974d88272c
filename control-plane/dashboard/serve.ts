/**
 * The dashboard's static files (index.html, app.js, app.css), built by scripts/build-dashboard.mjs
 * into dist/dashboard/ and served under /dashboard/ without authentication: they hold no data and
 * no secret; every data call the page makes goes to the /v1 API, which needs the login cookie.
 * Files are read once, at first request (a rebuild needs a restart); only the names the build writes are served.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/**
 * The page may load only its own files and call only its own origin (no CDN, no web font, no
 * inline script); cytoscape sets element styles from script, hence style-src 'unsafe-inline'.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Where the built files are: dist/dashboard, from the compiled dist/control-plane/dashboard/ or from the sources. */
export function defaultDashboardDir(): string {
  const here = import.meta.dirname;
  const candidates = [resolve(here, '../../dashboard'), resolve(here, '../../dist/dashboard')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0]!;
}

export class DashboardFiles {
  readonly #dir: string;
  readonly #cache = new Map<string, { body: Buffer; etag: string }>();

  constructor(dir = defaultDashboardDir()) {
    this.#dir = dir;
  }

  /**
   * Answers GET /dashboard[/...]: true when handled (including a 404 for an unknown file). Files
   * carry an ETag and are revalidated on each load (`no-cache`): a 304 lets the browser reuse the
   * script it already compiled, and a rebuilt file is never served stale.
   */
  serve(path: string, headers: IncomingHttpHeaders, res: ServerResponse): boolean {
    if (path === '/dashboard') {
      res.writeHead(308, { location: '/dashboard/' });
      res.end();
      return true;
    }
    if (!path.startsWith('/dashboard/')) return false;
    const name = path === '/dashboard/' ? 'index.html' : path.slice('/dashboard/'.length);
    const type = Object.hasOwn(TYPES, name) ? TYPES[name] : undefined;
    const file = type ? this.#read(name) : undefined;
    if (!type || !file) {
      const text = type ? `dashboard not built: ${name} is missing (run \`make build\`)\n` : `no such dashboard file: ${name}\n`;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
      return true;
    }
    const common = { etag: file.etag, 'cache-control': 'no-cache' };
    if (headers['if-none-match'] === file.etag) {
      res.writeHead(304, common);
      res.end();
      return true;
    }
    res.writeHead(200, {
      ...common,
      'content-type': type,
      'content-length': file.body.length,
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    res.end(file.body);
    return true;
  }

  #read(name: string): { body: Buffer; etag: string } | undefined {
    let f = this.#cache.get(name);
    if (!f) {
      let body: Buffer;
      try {
        body = readFileSync(join(this.#dir, name));
      } catch {
        return undefined;
      }
      this.#cache.set(name, (f = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }));
    }
    return f;
  }
}
