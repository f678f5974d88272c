/**
 * The pure half of `POST /v1/apply`: request body bytes -> every document validated on its own.
 * Runs in a worker thread (apply-worker.ts), so the cost of JSON, YAML and per-document
 * validation, which grows with the input, never lands on the event loop that serves xDS.
 */
import { WeftError, type FieldError } from '../../common/errors.js';
import { MAX_LISTED_ERRORS, PARSE_LIMITS, validateFiles, type ParseLimits, type ValidatedDocument } from '../config/index.js';
import type { ApplyFile } from '../control-plane.js';

export interface DecodedApply {
  /** The files' names, for messages about the apply as a whole. */
  files: string[];
  documents: ValidatedDocument[];
  /** The first MAX_LISTED_ERRORS errors. */
  errors: FieldError[];
  /** All errors, listed or not. */
  errorCount: number;
}

/**
 * Throws WeftError ADMIN_BAD_REQUEST for a body that is not `{"files": [{"name", "content"}]}`,
 * REQUEST_TOO_LARGE past the document limit. With `onDocument`, documents go there as they are
 * validated and the result's `documents` stays empty.
 */
export function decodeApplyBody(body: Uint8Array, limits: ParseLimits = PARSE_LIMITS, onDocument?: (d: ValidatedDocument) => void): DecodedApply {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    throw new WeftError('ADMIN_BAD_REQUEST', 'request body is not valid JSON');
  }
  const files = parseFiles(json);
  const v = validateFiles(files, limits, onDocument);
  return { files: files.map((f) => f.name), documents: v.documents, errors: v.errors.slice(0, MAX_LISTED_ERRORS), errorCount: v.errors.length };
}

export function parseFiles(body: unknown): ApplyFile[] {
  const files = (body as { files?: unknown } | null)?.files;
  if (!Array.isArray(files) || files.length === 0) throw new WeftError('ADMIN_BAD_REQUEST', 'body must be {"files": [{"name", "content"}]}');
  return files.map((f: unknown, i) => {
    const { name, content } = (f ?? {}) as { name?: unknown; content?: unknown };
    if (typeof name !== 'string' || typeof content !== 'string') {
      throw new WeftError('ADMIN_BAD_REQUEST', `files[${i}] needs string "name" and "content"`);
    }
    return { name, content };
  });
}
