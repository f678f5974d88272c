/**
 * What every CLI verb shares: global flags, the admin API client, output helpers. Verbs are one
 * file each under verbs/, with the same shape (name, summary, usage, run).
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { WeftError, formatFieldError, isWeftError, type FieldError } from '../../common/errors.js';
import { TOKEN_FILE } from '../admin/token.js';
import { parseDurationFlag } from './flags.js';
import { adminServerUrl, connectionHint, notAdminApi } from './server-url.js';

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Reads standard input fully (for `apply -f -`). */
  stdin: () => Promise<string>;
}

export interface Verb {
  name: string;
  summary: string;
  usage: string;
  run(args: string[], io: Io): Promise<number>;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:15014';

export function defaultDataDir(): string {
  return process.env.WEFT_DATA_DIR ?? join(homedir(), '.weft', 'data');
}

/** Global connection flags every client verb accepts. */
export const CLIENT_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'data-dir': { type: 'string' },
  timeout: { type: 'string' },
} as const;

export const CLIENT_USAGE = `Connection:
  --server ADDR     control plane admin API, HOST:PORT (http:// assumed) or a URL (env WEFT_SERVER,
                    default ${DEFAULT_SERVER})
  --token TOKEN     admin bearer token (env WEFT_TOKEN; default: read from --data-dir)
  --data-dir DIR    control plane data dir holding admin-token (env WEFT_DATA_DIR, default ~/.weft/data)
  --timeout DUR     how long to wait for the control plane's answer (env WEFT_TIMEOUT, default 30s)`;

export class AdminClient {
  readonly server: string;
  /** The token and where it came from; `missing`: none was found, this is where the CLI looked. */
  readonly #token: { value?: string; from: string; missing?: string };
  readonly #timeout: string;
  readonly #timeoutMs: number;

  constructor(opts: { server?: string; token?: string; 'data-dir'?: string; timeout?: string }) {
    this.server = adminServerUrl(opts.server ?? process.env.WEFT_SERVER ?? DEFAULT_SERVER, opts.server !== undefined ? '--server' : process.env.WEFT_SERVER !== undefined ? 'WEFT_SERVER' : 'the default server');
    this.#timeout = opts.timeout ?? (process.env.WEFT_TIMEOUT || '30s');
    try {
      this.#timeoutMs = parseDurationFlag(this.#timeout);
      if (this.#timeoutMs <= 0) throw new Error('want more than 0');
    } catch (e) {
      throw usageError(`${opts.timeout === undefined && process.env.WEFT_TIMEOUT ? 'WEFT_TIMEOUT' : '--timeout'}: ${(e as Error).message}`);
    }
    if (opts.token) this.#token = { value: opts.token, from: '--token' };
    else if (process.env.WEFT_TOKEN) this.#token = { value: process.env.WEFT_TOKEN, from: 'WEFT_TOKEN' };
    else {
      const file = join(opts['data-dir'] ?? defaultDataDir(), TOKEN_FILE);
      const via = opts['data-dir'] !== undefined ? '--data-dir' : process.env.WEFT_DATA_DIR !== undefined ? 'WEFT_DATA_DIR' : 'the default data dir';
      try {
        const value = readFileSync(file, 'utf8').trim();
        this.#token = value ? { value, from: `${file} (${via})` } : { from: `${file} (${via}), which is empty`, missing: file };
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
        this.#token = { from: `${file} (${via}), which ${why}`, missing: file };
      }
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers: {
          ...(this.#token.value ? { authorization: `Bearer ${this.#token.value}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (e) {
      if ((e as Error).name === 'TimeoutError') throw this.#timedOut(method, path, e);
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new WeftError(
        'ADMIN_UNREACHABLE',
        `cannot reach the control plane admin API at ${this.server} (${cause?.code ?? cause?.message ?? (e as Error).message}).\n` +
          `  Is \`weft control-plane\` running? Point at it with --server HOST:PORT or WEFT_SERVER.${connectionHint(this.server, cause)}`,
        { cause: e },
      );
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      if ((e as Error).name === 'TimeoutError') throw this.#timedOut(method, path, e);
      throw e;
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      throw new WeftError('ADMIN_BAD_REQUEST', notAdminApi(this.server, res.status, text));
    }
    if (!res.ok) {
      const e = json as { code?: string; message?: string; details?: FieldError[] };
      if (res.status === 401) {
        throw new WeftError('ADMIN_UNAUTHORIZED', this.#token.value === undefined
          ? `no admin token was found, and the control plane at ${this.server} wants one: --token and WEFT_TOKEN are unset and ${this.#token.from}.\n` +
            `  Pass --token TOKEN (or WEFT_TOKEN), or --data-dir DIR (or WEFT_DATA_DIR) naming the control plane's --data-dir, where it writes admin-token.`
          : `the control plane at ${this.server} refused the token from ${this.#token.from}: it is not this control plane's admin token.\n` +
            `  Pass the right one with --token or WEFT_TOKEN, or --data-dir pointing at this control plane's data directory.`);
      }
      const code = (e.code ?? 'INTERNAL') as ConstructorParameters<typeof WeftError>[0];
      throw new WeftError(code, e.message ?? `HTTP ${res.status}`, { details: e.details ?? [] });
    }
    return json as T;
  }

  #timedOut(method: string, path: string, cause: unknown): WeftError {
    return new WeftError(
      'ADMIN_TIMEOUT',
      `the control plane at ${this.server} did not answer ${method} ${path} within ${this.#timeout}.\n` +
        `  It may still be working (a very large apply): raise --timeout or WEFT_TIMEOUT, then check with \`weft get\`.`,
      { cause },
    );
  }
}

/** Prints an error for people: the message, every field error on its own line. */
export function reportError(io: Io, e: unknown): number {
  if (isWeftError(e)) {
    io.err(`error: ${e.message}`);
    for (const d of e.details) io.err(`  ${formatFieldError(d)}`);
    return e.code === 'CLI_USAGE' ? 2 : 1;
  }
  io.err(`error: ${(e as Error)?.message ?? String(e)}`);
  return 1;
}

/** Left-aligned text table. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

/**
 * A command-line mistake (exit 2). runCli prints the message and one line pointing at `weft VERB
 * --help`, not the whole usage text. `_usage` is not printed; verbs written against the earlier
 * signature still compile.
 */
export function usageError(message: string, _usage?: string): WeftError {
  return new WeftError('CLI_USAGE', message);
}
