/**
 * google.api.http path templates (google/api/http.proto), parsed once and matched per request:
 *
 *   Template = "/" Segments [ Verb ] ;     Segment  = "*" | "**" | LITERAL | Variable ;
 *   Variable = "{" FieldPath [ "=" Segments ] "}" ;   Verb = ":" LITERAL ;
 *
 * `{name}` is `{name=*}` (one segment). `**` (only last) matches zero or more segments. A variable
 * that spans one segment is percent-decoded fully; one that spans several keeps `%2F` as is
 * (RFC 6570 reserved expansion), as the spec says.
 */

type Part = { kind: 'lit'; value: string } | { kind: 'star' } | { kind: 'dstar' };

export interface TemplateVar {
  /** Field path, e.g. ['shelf', 'id']. */
  readonly path: readonly string[];
  /** Index of the first segment it covers. */
  readonly start: number;
  /** Index one past its last segment; -1 when it ends with `**` (to the end of the path). */
  readonly end: number;
}

export class TemplateError extends Error {}

export class PathTemplate {
  readonly parts: readonly Part[];
  readonly vars: readonly TemplateVar[];
  readonly verb: string | undefined;
  /** Literal segments count, for ordering matches (more literals first). */
  readonly literals: number;

  constructor(readonly source: string) {
    if (!source.startsWith('/')) throw new TemplateError(`path template '${source}' must start with '/'`);
    let body = source.slice(1);
    // The verb is a ':' after the last '/' that is not inside a variable.
    let depth = 0;
    let verbAt = -1;
    for (let i = 0; i < body.length; i++) {
      const c = body[i];
      if (c === '{') depth++;
      else if (c === '}') depth--;
      else if (c === '/' && depth === 0) verbAt = -1;
      else if (c === ':' && depth === 0) verbAt = i;
    }
    this.verb = verbAt >= 0 ? body.slice(verbAt + 1) : undefined;
    if (verbAt >= 0) body = body.slice(0, verbAt);
    if (this.verb === '') throw new TemplateError(`path template '${source}': empty verb after ':'`);
    const parts: Part[] = [];
    const vars: TemplateVar[] = [];
    const segs = splitTop(body, source);
    for (const seg of segs) {
      if (seg.startsWith('{')) {
        if (!seg.endsWith('}')) throw new TemplateError(`path template '${source}': unterminated variable '${seg}'`);
        const inner = seg.slice(1, -1);
        const eq = inner.indexOf('=');
        const field = eq < 0 ? inner : inner.slice(0, eq);
        if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(field)) throw new TemplateError(`path template '${source}': '${field}' is not a field path`);
        const sub = eq < 0 ? ['*'] : inner.slice(eq + 1).split('/');
        const start = parts.length;
        for (const s of sub) parts.push(segment(s, source));
        vars.push({ path: field.split('.'), start, end: parts[parts.length - 1]!.kind === 'dstar' ? -1 : parts.length });
      } else parts.push(segment(seg, source));
    }
    for (let i = 0; i < parts.length - 1; i++) if (parts[i]!.kind === 'dstar') throw new TemplateError(`path template '${source}': '**' must be the last segment`);
    this.parts = parts;
    this.vars = vars;
    this.literals = parts.filter((p) => p.kind === 'lit').length;
  }

  /** Matches a request path (no query); returns each variable's value, or undefined. */
  match(path: string): Array<[path: readonly string[], value: string]> | undefined {
    let p = path;
    if (this.verb !== undefined) {
      const suffix = `:${this.verb}`;
      if (!p.endsWith(suffix)) return undefined;
      p = p.slice(0, -suffix.length);
    } else {
      // A path with a verb does not match a template without one (the last segment has no ':').
      const last = p.lastIndexOf('/');
      if (p.indexOf(':', last) >= 0 && this.parts[this.parts.length - 1]?.kind === 'lit') return undefined;
    }
    if (!p.startsWith('/')) return undefined;
    const segs = p === '/' ? [] : p.slice(1).split('/');
    const parts = this.parts;
    const dstar = parts.length > 0 && parts[parts.length - 1]!.kind === 'dstar';
    if (dstar ? segs.length < parts.length - 1 : segs.length !== parts.length) return undefined;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part.kind === 'dstar') break;
      const s = segs[i]!;
      if (part.kind === 'lit') {
        if (s !== part.value) return undefined;
      } else if (s === '') return undefined;
    }
    const out: Array<[readonly string[], string]> = [];
    for (const v of this.vars) {
      const end = v.end < 0 ? segs.length : v.end;
      const span = segs.slice(v.start, end);
      let value: string;
      try {
        value = span.length === 1 ? decodeURIComponent(span[0]!) : span.map((x) => decodeURIComponent(x.replace(/%2F/gi, '%252F'))).join('/');
      } catch {
        return undefined;
      }
      out.push([v.path, value]);
    }
    return out;
  }

  /**
   * The path for given variable values (the reverse of match): each variable's value replaces its
   * segments; a one-segment variable is percent-encoded, a multi-segment one keeps its '/'.
   */
  expand(value: (path: readonly string[]) => string | undefined): string {
    const out: string[] = [];
    let i = 0;
    for (const v of this.vars) {
      for (; i < v.start; i++) out.push(litOf(this.parts[i]!));
      const x = value(v.path) ?? '';
      const end = v.end < 0 ? this.parts.length : v.end;
      out.push(end - v.start === 1 && this.parts[v.start]!.kind === 'star' ? encodeURIComponent(x) : x.split('/').map(encodeURIComponent).join('/'));
      i = end;
    }
    for (; i < this.parts.length; i++) out.push(litOf(this.parts[i]!));
    return `/${out.join('/')}${this.verb !== undefined ? `:${this.verb}` : ''}`;
  }
}

function litOf(p: Part): string {
  return p.kind === 'lit' ? p.value : p.kind === 'star' ? '_' : '';
}

function segment(s: string, source: string): Part {
  if (s === '*') return { kind: 'star' };
  if (s === '**') return { kind: 'dstar' };
  if (s === '' || /[{}*]/.test(s)) throw new TemplateError(`path template '${source}': bad segment '${s}'`);
  return { kind: 'lit', value: s };
}

/** Splits on '/' outside braces. */
function splitTop(body: string, source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of body) {
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (depth < 0 || depth > 1) throw new TemplateError(`path template '${source}': unbalanced braces`);
    if (c === '/' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (depth !== 0) throw new TemplateError(`path template '${source}': unbalanced braces`);
  out.push(cur);
  return body === '' ? [] : out;
}
