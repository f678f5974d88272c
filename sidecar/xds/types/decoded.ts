/**
 * The result of decoding one xDS resource: its name, the validated message, and every error with
 * its field path. A response with any error is NACKed whole; the last good config stays.
 */
import type { FieldError } from '../../../common/errors.js';

export interface Decoded<T> {
  name: string;
  value?: T;
  errors: FieldError[];
}

/** Byte-for-byte equality of two held resources (same bytes: same message; a re-encoding may differ). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b));
}

export class Problems {
  readonly errors: FieldError[] = [];
  constructor(readonly resource: string) {}
  add(path: string, message: string): void {
    this.errors.push({ resource: this.resource, path, message });
  }
}

/** A JS-compilable regex; Envoy's RE2 syntax is a subset for what Weft generates. */
export function checkRegex(p: Problems, path: string, regex: string): void {
  try {
    new RegExp(regex);
  } catch (e) {
    p.add(path, `invalid regex: ${(e as Error).message}`);
  }
}

type Duration = { seconds: bigint; nanos: number } | undefined;

/** A Duration in whole milliseconds (nanos rounded down), or `dflt` when unset. */
export function durationMs<D extends number | undefined>(d: Duration, dflt: D): number | D {
  return d ? Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6) : dflt;
}

/**
 * A Duration field that, when set, must be within [min, max] milliseconds (Envoy's validation
 * rules). `minMs` bounds a non-zero duration (zero stays for `positive` to refuse or allow).
 */
export function checkDuration(p: Problems, path: string, d: Duration, o: { positive?: boolean; minMs?: number; maxMs?: number } = {}): void {
  if (!d) return;
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  if (d.seconds < 0n || d.nanos < 0 || !Number.isFinite(ms)) p.add(path, 'must not be negative');
  else if (o.positive && ms <= 0) p.add(path, 'must be greater than 0');
  else if (o.minMs !== undefined && ms > 0 && ms < o.minMs) p.add(path, `must be at least ${o.minMs} ms`);
  else if (ms > (o.maxMs ?? 365 * 24 * 3600 * 1000)) p.add(path, `must be at most ${o.maxMs ?? 365 * 24 * 3600 * 1000} ms`);
}
