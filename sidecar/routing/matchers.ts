/**
 * Envoy string, header and query matchers compiled to small closures-free objects once per
 * RouteConfiguration. Regexes are Envoy's RE2 full matches, compiled once as `^(?:re)$`.
 */
import type { HeaderMatcher, QueryParameterMatcher } from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import type { StringMatcher } from '../../proto/gen/envoy/type/matcher/v3/string_pb.js';

const enum Kind {
  Exact,
  Prefix,
  Suffix,
  Contains,
  Regex,
  Present,
  Range,
}

export class CompiledStringMatch {
  readonly #kind: Kind;
  readonly #value: string;
  readonly #re: RegExp | undefined;
  readonly #ignoreCase: boolean;
  constructor(kind: Kind, value: string, ignoreCase: boolean) {
    this.#kind = kind;
    this.#ignoreCase = ignoreCase;
    this.#value = ignoreCase ? value.toLowerCase() : value;
    this.#re = kind === Kind.Regex ? new RegExp(`^(?:${value})$`) : undefined;
  }
  static from(m: StringMatcher): CompiledStringMatch {
    const p = m.matchPattern;
    switch (p.case) {
      case 'exact':
        return new CompiledStringMatch(Kind.Exact, p.value, m.ignoreCase);
      case 'prefix':
        return new CompiledStringMatch(Kind.Prefix, p.value, m.ignoreCase);
      case 'suffix':
        return new CompiledStringMatch(Kind.Suffix, p.value, m.ignoreCase);
      case 'contains':
        return new CompiledStringMatch(Kind.Contains, p.value, m.ignoreCase);
      case 'safeRegex':
        return new CompiledStringMatch(Kind.Regex, p.value.regex, false);
      default:
        return new CompiledStringMatch(Kind.Present, '', false);
    }
  }
  /** What it matches, for people (`weft explain`): `exact "v1"`, `prefix "/api"`, `regex /.../`. */
  describe(): string {
    const ic = this.#ignoreCase ? ' (ignoring case)' : '';
    switch (this.#kind) {
      case Kind.Exact:
        return `exact ${JSON.stringify(this.#value)}${ic}`;
      case Kind.Prefix:
        return `prefix ${JSON.stringify(this.#value)}${ic}`;
      case Kind.Suffix:
        return `suffix ${JSON.stringify(this.#value)}${ic}`;
      case Kind.Contains:
        return `contains ${JSON.stringify(this.#value)}${ic}`;
      case Kind.Regex:
        return `regex /${this.#value}/`;
      default:
        return 'present';
    }
  }
  test(raw: string): boolean {
    const v = this.#ignoreCase ? raw.toLowerCase() : raw;
    switch (this.#kind) {
      case Kind.Exact:
        return v === this.#value;
      case Kind.Prefix:
        return v.startsWith(this.#value);
      case Kind.Suffix:
        return v.endsWith(this.#value);
      case Kind.Contains:
        return v.includes(this.#value);
      case Kind.Regex:
        return this.#re!.test(v);
      default:
        return true;
    }
  }
}

/** Reads a request header by lowercase name; pseudo-headers (`:method`, `:path`, `:authority`) too. */
export interface HeaderSource {
  header(name: string): string | undefined;
}

export class CompiledHeaderMatch {
  readonly name: string;
  readonly #match: CompiledStringMatch | undefined;
  readonly #present: boolean | undefined;
  readonly #range: [number, number] | undefined;
  readonly #invert: boolean;
  readonly #missingAsEmpty: boolean;
  constructor(h: HeaderMatcher) {
    this.name = h.name.toLowerCase();
    this.#invert = h.invertMatch;
    this.#missingAsEmpty = h.treatMissingHeaderAsEmpty;
    const s = h.headerMatchSpecifier;
    switch (s.case) {
      case 'exactMatch':
        this.#match = new CompiledStringMatch(Kind.Exact, s.value, false);
        break;
      case 'safeRegexMatch':
        this.#match = new CompiledStringMatch(Kind.Regex, s.value.regex, false);
        break;
      case 'prefixMatch':
        this.#match = new CompiledStringMatch(Kind.Prefix, s.value, false);
        break;
      case 'suffixMatch':
        this.#match = new CompiledStringMatch(Kind.Suffix, s.value, false);
        break;
      case 'containsMatch':
        this.#match = new CompiledStringMatch(Kind.Contains, s.value, false);
        break;
      case 'stringMatch':
        this.#match = CompiledStringMatch.from(s.value);
        break;
      case 'presentMatch':
        this.#present = s.value;
        break;
      case 'rangeMatch':
        this.#range = [Number(s.value.start), Number(s.value.end)];
        break;
      default:
        this.#present = true;
    }
  }
  /** The condition, for people: `header x-canary exact "yes"`, `header x-debug absent`. */
  describe(): string {
    const not = this.#invert ? 'not ' : '';
    if (this.#present !== undefined) return `header ${this.name} ${this.#present !== this.#invert ? 'present' : 'absent'}`;
    if (this.#range) return `header ${this.name} ${not}in [${this.#range[0]}, ${this.#range[1]})`;
    return `header ${this.name} ${not}${this.#match!.describe()}`;
  }
  test(src: HeaderSource): boolean {
    let v = src.header(this.name);
    if (v === undefined && this.#missingAsEmpty) v = '';
    let ok: boolean;
    if (this.#present !== undefined) ok = (v !== undefined) === this.#present;
    else if (v === undefined) return false; // a missing header never matches, inverted or not (Envoy)
    else if (this.#range) {
      const n = /^-?\d+$/.test(v) ? Number(v) : NaN;
      ok = n >= this.#range[0] && n < this.#range[1];
    } else ok = this.#match!.test(v);
    return ok !== this.#invert;
  }
}

export class CompiledQueryMatch {
  readonly name: string;
  readonly #match: CompiledStringMatch | undefined;
  readonly #present: boolean;
  constructor(q: QueryParameterMatcher) {
    this.name = q.name;
    const s = q.queryParameterMatchSpecifier;
    this.#present = s.case === 'presentMatch' ? s.value : false;
    this.#match = s.case === 'stringMatch' ? CompiledStringMatch.from(s.value) : undefined;
  }
  describe(): string {
    return `query ${this.name} ${this.#match ? this.#match.describe() : this.#present ? 'present' : 'never (present_match false)'}`;
  }
  test(params: URLSearchParams): boolean {
    const v = params.get(this.name);
    if (v === null) return false;
    return this.#match ? this.#match.test(v) : this.#present;
  }
}
