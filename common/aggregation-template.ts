/**
 * The path templates of an AggregationPolicy's calls, parsed the same way by the control plane
 * (which refuses a bad one at apply, with its field path) and the proxy (which compiles each call's
 * template once, when the route is decoded). A template is literal text with placeholders:
 *
 *  - `{path.NAME}`: the segment of the incoming path that the policy's pathTemplate names `{NAME}`;
 *  - `{query.NAME}`: a query parameter of the incoming request (its first value);
 *  - `{calls.CALL.body.KEY[.KEY...]}`: a string, number or boolean in an earlier call's JSON body
 *    (KEY an object key or an array index); CALL must be one the call depends on.
 *
 * Values are percent-encoded when substituted (a value cannot add a path segment or a query
 * parameter). Literal `{` or `}` are refused: neither may appear unescaped in a request target.
 */

export type TemplatePart =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'path'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string }
  | { readonly kind: 'call'; readonly call: string; readonly keys: readonly string[] };

const NAME = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const KEY = /^[A-Za-z0-9_$-]+$/;
/** What a call's path may hold outside placeholders: RFC 3986 pchar, '/', '?', '&', '=' and '%'. */
const LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*$/;

/** A call name or template variable: a letter or '_', then letters, digits, '_' or '-'. */
export function isTemplateName(s: string): boolean {
  return NAME.test(s);
}

/** The parts of `template`, or the reason it is not one. */
export function parseCallTemplate(template: string): TemplatePart[] | { error: string } {
  if (!template.startsWith('/')) return { error: "must start with '/'" };
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const close = template.indexOf('}', i);
    if (close >= 0 && (open < 0 || close < open)) return { error: `'}' at ${close} closes no placeholder` };
    const end = open < 0 ? template.length : open;
    if (end > i) {
      const text = template.slice(i, end);
      if (!LITERAL.test(text)) return { error: `'${text}' has characters a request target cannot hold (percent-encode them)` };
      parts.push({ kind: 'literal', text });
    }
    if (open < 0) break;
    const shut = template.indexOf('}', open);
    if (shut < 0) return { error: `'{' at ${open} is not closed` };
    const inner = template.slice(open + 1, shut);
    const p = placeholder(inner);
    if ('error' in p) return { error: `{${inner}}: ${p.error}` };
    parts.push(p);
    i = shut + 1;
  }
  return parts;
}

function placeholder(inner: string): TemplatePart | { error: string } {
  const seg = inner.split('.');
  const [src] = seg;
  if (src === 'path' || src === 'query') {
    if (seg.length !== 2 || !NAME.test(seg[1]!)) return { error: `must be ${src}.NAME` };
    return { kind: src, name: seg[1]! };
  }
  if (src === 'calls') {
    if (seg.length < 4 || !NAME.test(seg[1]!) || seg[2] !== 'body') return { error: 'must be calls.CALL.body.KEY[.KEY...]' };
    const keys = seg.slice(3);
    const bad = keys.find((k) => !KEY.test(k));
    if (bad !== undefined) return { error: `'${bad}' is not a key (letters, digits, '_', '-', '$')` };
    return { kind: 'call', call: seg[1]!, keys };
  }
  return { error: 'must be path.NAME, query.NAME or calls.CALL.body.KEY' };
}

/** The `{NAME}` segments of a pathTemplate by position, or the reason it is not one. */
export function parsePathTemplate(template: string): { segments: readonly (string | { readonly name: string })[] } | { error: string } {
  if (!template.startsWith('/')) return { error: "must start with '/'" };
  const segments: (string | { name: string })[] = [];
  const seen = new Set<string>();
  for (const s of template.slice(1).split('/')) {
    if (s.startsWith('{') && s.endsWith('}')) {
      const name = s.slice(1, -1);
      if (!NAME.test(name)) return { error: `'${s}' is not a {NAME} segment` };
      if (seen.has(name)) return { error: `{${name}} appears twice` };
      seen.add(name);
      segments.push({ name });
    } else if (s.includes('{') || s.includes('}')) return { error: `'${s}': a placeholder takes a whole segment` };
    else if (!LITERAL.test(s) || s.includes('?')) return { error: `'${s}' is not a path segment` };
    else segments.push(s);
  }
  return { segments };
}
