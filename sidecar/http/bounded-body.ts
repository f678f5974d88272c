/**
 * Whole-body buffering with a bound, for filters that must see a complete body before deciding
 * (request validation, body transformation). A declared Content-Length over the bound is refused
 * before a byte is read; a body of unknown length is read until it passes the bound. The parser
 * (llhttp, nghttp2) holds a body to its declared length. Only filters with a body rule call this:
 * every other request's body streams untouched.
 */
import { Readable } from 'node:stream';
import { RequestView, type RequestHead, type RequestInfo } from './filter.js';

/** The default bound of a filter's buffered body (ValidationPolicy, TransformationPolicy). */
export const DEFAULT_BODY_BOUND = 1024 * 1024;

/** What reading gave: the body, or `tooLarge` (declared: nothing was read, the connection should close). */
export type BoundedBody = { readonly body: Buffer } | { readonly tooLarge: 'declared' | 'read' };

/** Whether the request carries a body at all (a declared length of 0 does not). */
export function carriesBody(req: RequestHead): boolean {
  return req.hasBody && req.header('content-length') !== '0';
}

/**
 * The request body, whole, or tooLarge past `max` bytes. Rejects when the body stream fails (the
 * caller aborts the response). bytesReceived is set for the logs.
 */
export async function readBounded(req: RequestHead, info: RequestInfo, max: number): Promise<BoundedBody> {
  if (!req.hasBody) return { body: Buffer.alloc(0) };
  const cl = req.header('content-length');
  if (cl !== undefined && Number(cl) > max) return { tooLarge: 'declared' };
  const chunks: Buffer[] = [];
  let n = 0;
  // Not a for-await loop: leaving one early destroys the body, and an h2 stream destroyed is
  // reset before the 413 can be sent (adapted.ts readWholeBody). The rest is dropped when the
  // response ends.
  const it = (req.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (let r = await it.next(); !r.done; r = await it.next()) {
    const c = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    n += c.length;
    if (n > max) return { tooLarge: 'read' };
    chunks.push(c);
  }
  info.bytesReceived = n;
  return { body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n) };
}

/**
 * The request as the next stage sees it after a filter read its body: the same head (or with
 * `headers` replaced: content-type, content-length, a query), and the body from memory.
 */
export class BufferedRequest extends RequestView {
  readonly #body: Buffer;
  readonly #set: ReadonlyMap<string, string | undefined>;
  readonly #search: string | undefined;
  #stream: Readable | undefined;
  constructor(req: RequestHead, body: Buffer, set: ReadonlyMap<string, string | undefined> = EMPTY, search?: string) {
    super(req);
    this.#body = body;
    this.#set = set;
    this.#search = search;
  }
  override get hasBody(): boolean {
    return true;
  }
  override get body(): Readable {
    return (this.#stream ??= bodyStream(this.#body));
  }
  override get search(): string {
    return this.#search ?? this.req.search;
  }
  override header(name: string): string | undefined {
    return this.#set.has(name) ? this.#set.get(name) : this.req.header(name);
  }
  override rawPairs(): string[] {
    if (this.#set.size === 0) return this.req.rawPairs();
    const src = this.req.rawPairs();
    const out: string[] = [];
    for (let i = 0; i < src.length; i += 2) if (!this.#set.has(src[i]!)) out.push(src[i]!, src[i + 1]!);
    for (const [k, v] of this.#set) if (v !== undefined) out.push(k, v);
    return out;
  }
}

function ignoreError(): void {}

/**
 * A buffered body as the stream the next stage reads. Every stream has an owner: an attempt that
 * is cancelled destroys it, and that error must not reach the process.
 */
export function bodyStream(body: Buffer): Readable {
  const s = Readable.from(body.length ? [body] : []);
  s.on('error', ignoreError);
  return s;
}

const EMPTY: ReadonlyMap<string, string | undefined> = new Map();
