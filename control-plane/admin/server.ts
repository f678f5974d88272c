/**
 * The admin HTTP/JSON API the CLI (and later a dashboard) uses. Every route but /healthz needs the
 * bearer token. Errors are WeftErrors rendered as `{code, message, details}` in one place.
 *
 *   POST   /v1/apply?dryRun=1        {files: [{name, content}]}  -> ApplyResult | 422 {details}
 *   GET    /v1/resources[?kind=&namespace=&name=]                  -> {items: MeshResource[]}
 *   DELETE /v1/resources/{kind}/{namespace}/{name}                 -> {revision, deleted}
 *   GET    /v1/proxies                                              -> {items: ProxyStatus[]}
 *   GET    /v1/proxies/{id}/config[?type=cluster]                   -> {nodeId, resources}
 *   GET    /healthz, /metrics
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WeftError, isWeftError, type ErrorCode } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { KINDS, type Kind } from '../config/types.js';
import type { ControlPlane, ApplyFile } from '../control-plane.js';
import { tokenMatches } from './token.js';
import { TYPE_URL, type ResourceKind } from '../../common/xds-types.js';

const MAX_BODY = 16 * 1024 * 1024;

export interface AdminDeps {
  controlPlane: ControlPlane;
  token: string;
  /** Per-proxy xDS sync status, from the xDS server. */
  proxyStatus: () => unknown[];
  /** Prometheus text exposition. */
  metrics: () => string;
  logger?: Logger;
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  CONFIG_INVALID: 422,
  CONFIG_PARSE: 422,
  CONFIG_NOT_FOUND: 404,
  ADMIN_UNAUTHORIZED: 401,
  ADMIN_BAD_REQUEST: 400,
};

export class AdminServer {
  readonly #deps: AdminDeps;
  readonly #log: Logger;
  readonly #server: Server;

  constructor(deps: AdminDeps) {
    this.#deps = deps;
    this.#log = deps.logger ?? silentLogger;
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => this.#fail(res, e));
    });
  }

  /** Binds and resolves with the bound port (0 picks a free one). */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    if (path === '/healthz') return send(res, 200, { ok: true });
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.#deps.metrics());
      return;
    }
    if (!tokenMatches(this.#deps.token, req.headers.authorization)) {
      throw new WeftError('ADMIN_UNAUTHORIZED', 'missing or wrong bearer token (see `weft --help`: --token or WEFT_TOKEN)');
    }
    const cp = this.#deps.controlPlane;
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const m = req.method ?? 'GET';

    if (m === 'POST' && path === '/v1/apply') {
      const body = await readJson(req);
      const files = parseFiles(body);
      const dryRun = ['1', 'true'].includes(url.searchParams.get('dryRun') ?? '');
      return send(res, 200, await cp.apply(files, { dryRun }));
    }
    if (m === 'GET' && path === '/v1/resources') {
      const kind = url.searchParams.get('kind') ?? undefined;
      if (kind !== undefined && !KINDS.includes(kind as Kind)) {
        throw new WeftError('ADMIN_BAD_REQUEST', `unknown kind '${kind}' (known: ${KINDS.join(', ')})`);
      }
      const items = cp.list(kind as Kind | undefined, url.searchParams.get('namespace') ?? undefined, url.searchParams.get('name') ?? undefined);
      return send(res, 200, { revision: cp.model.revision, items });
    }
    if (m === 'DELETE' && parts[0] === 'v1' && parts[1] === 'resources' && parts.length === 5) {
      const [, , kind, ns, name] = parts as [string, string, string, string, string];
      if (!KINDS.includes(kind as Kind)) throw new WeftError('ADMIN_BAD_REQUEST', `unknown kind '${kind}' (known: ${KINDS.join(', ')})`);
      return send(res, 200, await cp.delete([`${kind}/${ns}/${name}`]));
    }
    if (m === 'GET' && path === '/v1/proxies') return send(res, 200, { items: this.#deps.proxyStatus() });
    if (m === 'GET' && parts[0] === 'v1' && parts[1] === 'proxies' && parts[3] === 'config' && parts.length === 4) {
      const type = url.searchParams.get('type') ?? undefined;
      if (type !== undefined && !(type in TYPE_URL)) {
        throw new WeftError('ADMIN_BAD_REQUEST', `unknown type '${type}' (known: ${Object.keys(TYPE_URL).join(', ')})`);
      }
      const dump = cp.configDump(parts[2]!, type as ResourceKind | undefined);
      if (!dump) throw new WeftError('CONFIG_NOT_FOUND', `no connected proxy with id '${parts[2]}' (see \`weft proxy-status\`)`);
      return send(res, 200, { nodeId: parts[2], resources: dump });
    }
    throw new WeftError('ADMIN_BAD_REQUEST', `no such endpoint: ${m} ${path}`);
  }

  #fail(res: ServerResponse, e: unknown): void {
    const err = isWeftError(e) ? e : new WeftError('INTERNAL', 'internal error', { cause: e });
    if (err.code === 'INTERNAL') this.#log.error({ err: e }, 'admin request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, STATUS[err.code] ?? 500, err.toJSON());
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new WeftError('ADMIN_BAD_REQUEST', `request body over ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new WeftError('ADMIN_BAD_REQUEST', 'request body is not valid JSON');
  }
}

function parseFiles(body: unknown): ApplyFile[] {
  const files = (body as { files?: unknown } | null)?.files;
  if (!Array.isArray(files) || files.length === 0) throw new WeftError('ADMIN_BAD_REQUEST', 'body must be {"files": [{"name", "content"}]}');
  return files.map((f, i) => {
    const { name, content } = (f ?? {}) as { name?: unknown; content?: unknown };
    if (typeof name !== 'string' || typeof content !== 'string') {
      throw new WeftError('ADMIN_BAD_REQUEST', `files[${i}] needs string "name" and "content"`);
    }
    return { name, content };
  });
}
