/**
 * A small field reader for validating untrusted config: every check records a FieldError with the
 * exact path and keeps going, so one pass reports every mistake. Unknown fields are errors.
 */
import type { FieldError } from '../../common/errors.js';

export type Obj = Record<string, unknown>;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A Gateway API hostname: a lowercase DNS name, optionally a `*.` wildcard of one. */
export const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class Reader {
  readonly errors: FieldError[] = [];
  constructor(readonly where: Omit<FieldError, 'path' | 'message'>) {}

  err(path: string, message: string): void {
    this.errors.push({ ...this.where, path, message });
  }

  /**
   * An object with only `allowed` keys (`required` ones present). Undefined when absent (no error:
   * whether the object itself is required is the parent's `required` list) or wrong.
   */
  obj(v: unknown, path: string, allowed: readonly string[], required: readonly string[] = []): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.err(path, `must be an object, got ${kindOf(v)}`);
      return undefined;
    }
    const o = v as Obj;
    for (const k of Object.keys(o)) if (!allowed.includes(k)) this.err(join(path, k), `unknown field (allowed: ${allowed.join(', ')})`);
    for (const k of required) if (o[k] === undefined || o[k] === null) this.err(join(path, k), 'is required');
    return o;
  }

  str(v: unknown, path: string, opts: { required?: boolean; pattern?: RegExp; patternHelp?: string; oneOf?: readonly string[]; nonEmpty?: boolean } = {}): string | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.err(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'string') {
      this.err(path, `must be a string, got ${kindOf(v)}`);
      return undefined;
    }
    if (opts.oneOf && !opts.oneOf.includes(v)) {
      this.err(path, `must be one of ${opts.oneOf.join(', ')}; got '${v}'`);
      return undefined;
    }
    if ((opts.nonEmpty || opts.required) && v === '') {
      this.err(path, 'must not be empty');
      return undefined;
    }
    if (opts.pattern && !opts.pattern.test(v)) {
      this.err(path, `'${v}' is not ${opts.patternHelp ?? `matching ${opts.pattern}`}`);
      return undefined;
    }
    return v;
  }

  int(v: unknown, path: string, min: number, max: number, opts: { required?: boolean } = {}): number | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.err(path, 'is required');
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.err(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'boolean') {
      this.err(path, `must be true or false, got ${kindOf(v)}`);
      return undefined;
    }
    return v;
  }

  /** A Gateway API duration ('250ms', '1s', '1.5s', '2m', '1h') -> ms. */
  duration(v: unknown, path: string, opts: { required?: boolean; min?: number } = {}): number | undefined {
    if (v === undefined || v === null) {
      if (opts.required) this.err(path, 'is required');
      return undefined;
    }
    const ms = typeof v === 'string' ? parseDuration(v) : undefined;
    if (ms === undefined) {
      this.err(path, `must be a duration like 250ms, 10s, 2m or 1h, got ${JSON.stringify(v)}`);
      return undefined;
    }
    if (opts.min !== undefined && ms < opts.min) {
      this.err(path, `must be at least ${opts.min} ms`);
      return undefined;
    }
    return ms;
  }

  arr<T>(v: unknown, path: string, item: (x: unknown, path: string) => T | undefined, opts: { required?: boolean; nonEmpty?: boolean; max?: number } = {}): T[] {
    if (v === undefined || v === null) {
      if (opts.required || opts.nonEmpty) this.err(path, 'is required');
      return [];
    }
    if (!Array.isArray(v)) {
      this.err(path, `must be a list, got ${kindOf(v)}`);
      return [];
    }
    if (opts.nonEmpty && v.length === 0) this.err(path, 'must not be empty');
    if (opts.max !== undefined && v.length > opts.max) this.err(path, `must have at most ${opts.max} items`);
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = item(x, `${path}[${i}]`);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  /** A map of string to string (labels, annotations, selectors). */
  labels(v: unknown, path: string): Record<string, string> {
    const o = v === undefined || v === null ? undefined : this.obj(v, path, Object.keys(v as Obj));
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o ?? {})) {
      if (typeof val !== 'string') this.err(join(path, k), `must be a string, got ${kindOf(val)}`);
      else out[k] = val;
    }
    return out;
  }

  dnsLabel(v: unknown, path: string, required = true): string | undefined {
    const s = this.str(v, path, { required });
    if (s === undefined) return undefined;
    if (s.length > 63 || !DNS_LABEL.test(s)) {
      this.err(path, `'${s}' is not a valid name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)`);
      return undefined;
    }
    return s;
  }

  /** A header value: no CR, LF or NUL (they would split or truncate the header on the wire). */
  headerValue(v: unknown, path: string): string | undefined {
    const s = this.str(v, path, { required: true });
    if (s !== undefined && /[\r\n\0]/.test(s)) {
      this.err(path, 'must not contain CR, LF or NUL');
      return undefined;
    }
    return s;
  }

  headerName(v: unknown, path: string): string | undefined {
    return this.str(v, path, { required: true, pattern: HEADER_NAME, patternHelp: 'a valid HTTP header name' });
  }

  regex(v: unknown, path: string): string | undefined {
    const s = this.str(v, path, { required: true });
    if (s === undefined) return undefined;
    // A quantified group that itself ends in a quantifier ((a+)+, (x*)*) can backtrack
    // exponentially on hostile input; proxies run these on every request.
    if (/\([^()]*[+*}]\)[+*{]/.test(s)) {
      this.err(path, 'nested quantifiers (like (a+)+) can take exponential time on hostile input; rewrite the expression');
      return undefined;
    }
    try {
      new RegExp(s);
      return s;
    } catch (e) {
      this.err(path, `invalid regular expression: ${(e as Error).message}`);
      return undefined;
    }
  }
}

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * mult);
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}
