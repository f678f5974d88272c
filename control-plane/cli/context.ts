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
  --server URL      control plane admin API (env WEFT_SERVER, default ${DEFAULT_SERVER})
  --token TOKEN     admin bearer token (env WEFT_TOKEN; default: read from --data-dir)
  --data-dir DIR    control plane data dir holding admin-token (env WEFT_DATA_DIR, default ~/.weft/data)
  --timeout DUR     how long to wait for the control plane's answer (env WEFT_TIMEOUT, default 30s)`;

export class AdminClient {
  readonly server: string;
  readonly #token: string | undefined;
  readonly #timeout: string;
  readonly #timeoutMs: number;

  constructor(opts: { server?: string; token?: string; 'data-dir'?: string; timeout?: string }) {
    this.server = (opts.server ?? process.env.WEFT_SERVER ?? DEFAULT_SERVER).replace(/\/$/, '');
    this.#timeout = opts.timeout ?? process.env.WEFT_TIMEOUT ?? '30s';
    try {
      this.#timeoutMs = parseDurationFlag(this.#timeout);
      if (this.#timeoutMs <= 0) throw new Error('want more than 0');
    } catch (e) {
      throw usageError(`--timeout: ${(e as Error).message}`);
    }
    let token = opts.token ?? process.env.WEFT_TOKEN;
    if (!token) {
      try {
        token = readFileSync(join(opts['data-dir'] ?? defaultDataDir(), TOKEN_FILE), 'utf8').trim();
      } catch {
        token = undefined;
      }
    }
    this.#token = token;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers: {
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
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
          `  Is \`weft control-plane\` running? Point at it with --server URL or WEFT_SERVER.`,
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
      throw new WeftError('ADMIN_BAD_REQUEST', `${this.server}${path} answered ${res.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    if (!res.ok) {
      const e = json as { code?: string; message?: string; details?: FieldError[] };
      if (res.status === 401) {
        throw new WeftError(
          'ADMIN_UNAUTHORIZED',
          `the control plane at ${this.server} refused the token. Pass --token or WEFT_TOKEN, or --data-dir pointing at the control plane's data directory.`,
        );
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
