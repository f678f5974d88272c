/**
 * YAML/JSON text -> raw documents (multi-document, Kubernetes style). Pure: no file access.
 *
 * Linear in the input and bounded, because the input is whatever reached the admin API: documents
 * are composed one at a time as the parser completes them (not all at once), positions come from
 * one line table, duplicate keys are found with a set per mapping (the `yaml` package's own check
 * rescans the mapping for every key), and every document's nesting depth and alias count are
 * checked on its syntax tree before it is composed, so an alias bomb or `[[[[...` never reaches
 * the recursive composer or toJS. The limits are in PARSE_LIMITS (docs/admin-api.md#limits).
 *
 * Two parsers, one answer. Documents are split at their markers (`---`, `...` at the start of a
 * line, which YAML forbids inside any content) and each is read first by js-yaml (core schema,
 * duplicate keys refused), about 8x faster than `yaml` on large applies. A document it accepts
 * whose tree is within the depth limit and shares no node (no aliases) is used as it is; any
 * other (a syntax error, an alias, anything unusual) goes through the `yaml` pipeline below,
 * which gives the located errors and enforces the alias limits. A differential test
 * (test/fuzz/apply-input.test.ts) checks that both give the same value wherever js-yaml accepts.
 */
import jsYaml from 'js-yaml';
import { Composer, isAlias, isCollection, isMap, isPair, isScalar, isSeq, LineCounter, Lexer, Parser, type CST, type Document } from 'yaml';
import { WeftError, type FieldError } from '../../common/errors.js';

export interface RawDocument {
  file: string;
  /** Zero-based document index in the file. */
  index: number;
  value: unknown;
  /** 1-based line where the document starts. */
  line?: number;
}

/** What one apply may hold. Real configurations are far below: 1,000 services with a route and a policy each is ~3,000 documents of depth ~8. */
export const PARSE_LIMITS = {
  /** Documents in one apply, over all its files, empty ones included (413 beyond). */
  documents: 25_000,
  /** Nested mappings and sequences in one document (422 beyond). */
  depth: 64,
  /** Alias references (`*name`) in one document, and the nodes an alias may expand to (422 beyond). */
  aliases: 100,
} as const;

export type ParseLimits = { readonly [K in keyof typeof PARSE_LIMITS]: number };

/** How many documents an apply has left: shared by its files so the limit covers the whole apply. */
export interface DocumentBudget {
  left: number;
}

/**
 * Parses every document of one file. Syntax problems and per-document limits (depth, aliases) are
 * returned as errors with file and document; going over the document budget throws WeftError
 * REQUEST_TOO_LARGE (the whole apply is refused, without parsing the rest).
 */
export function parseDocuments(
  text: string,
  file: string,
  budget: DocumentBudget = { left: PARSE_LIMITS.documents },
  limits: ParseLimits = PARSE_LIMITS,
): { docs: RawDocument[]; errors: FieldError[] } {
  const docs: RawDocument[] = [];
  const errors: FieldError[] = [];
  parseDocumentStream(text, file, (d) => docs.push(d), errors, budget, limits);
  return { docs, errors };
}

/**
 * parseDocuments handing each document to `onDocument` as soon as it is parsed, so a caller that
 * validates as it goes never holds a whole large apply's syntax trees at once.
 */
export function parseDocumentStream(
  text: string,
  file: string,
  onDocument: (d: RawDocument) => void,
  errors: FieldError[],
  budget: DocumentBudget = { left: PARSE_LIMITS.documents },
  limits: ParseLimits = PARSE_LIMITS,
): void {
  if (refuseLoneCarriageReturn(text, file, errors)) return;
  // A byte-order mark after the first character (YAML allows one before each document's
  // comments): where documents start is then the `yaml` package's to say, for the whole file.
  if (text.indexOf('\ufeff', 1) >= 0) return parseWithYaml(text, file, onDocument, errors, budget, limits);
  const docs: RawDocument[] = [];
  const errs: FieldError[] = [];
  const start = budget.left;
  let agreed = true;
  for (const chunk of splitDocuments(text)) {
    if (--budget.left < 0) throw tooMany(limits);
    const fast = readFast(chunk.text, limits);
    if (fast.ok) {
      if (fast.value !== null && fast.value !== undefined) docs.push({ file, index: chunk.index, value: fast.value, line: chunk.line + leadingLines(chunk.text) });
      continue;
    }
    // The careful path for this document alone: located errors, alias limits.
    parseWithYaml(chunk.text, file, (d) => {
      if (d.index !== chunk.index) agreed = false;
      docs.push(d);
    }, errs, { left: Number.MAX_SAFE_INTEGER }, limits, { index: chunk.index, line: chunk.line - 1 });
    if (errs.some((e) => e.document !== undefined && e.document !== chunk.index)) agreed = false;
  }
  if (!agreed) {
    // The split and the `yaml` package saw the documents differently (text no real configuration
    // has): the careful path reads the whole file, so indexes and lines are its own.
    budget.left = start;
    parseWithYaml(text, file, onDocument, errors, budget, limits);
    return;
  }
  for (const d of docs) onDocument(d);
  errors.push(...errs);
}

/**
 * The documents of a YAML stream, split where a line starts with a document marker (`---` or
 * `...` followed by a space or the end of the line): YAML forbids such a line inside any content,
 * so this is where the documents are. Directives and comments before a `---` belong to the
 * document it starts; text before the first marker is a document only if it has content.
 */
export function* splitDocuments(text: string): Generator<{ text: string; index: number; line: number }> {
  let index = 0;
  let start = 0;
  let startLine = 1;
  let line = 1;
  let open = false; // the current chunk began with a marker (so it is a document even if empty)
  let pos = 0;
  // Content: a line that is not blank (YAML's blanks are space and tab), not a comment, not a
  // directive (a byte-order mark opening the text is not content). Lines are split at \n only: a
  // JavaScript /m regex would also end them at U+2028, U+2029 (and \r), which YAML 1.2 reads as
  // ordinary characters.
  const content = (from: number, to: number) => {
    for (let i = from === 0 && text.charCodeAt(0) === 0xfeff ? 1 : from; i <= to; ) {
      let e = text.indexOf('\n', i);
      if (e < 0 || e > to) e = to;
      if (isContentLine(text, i, e)) return true;
      i = e + 1;
    }
    return false;
  };
  while (pos <= text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl;
    const c = text.charCodeAt(pos);
    const marker = (c === 45 || c === 46) && end - pos >= 3 && text.startsWith(c === 45 ? '---' : '...', pos) && (end - pos === 3 || isSeparator(text.charCodeAt(pos + 3)));
    if (marker) {
      if (c === 45) {
        // A directives-end marker: what came before is a document if it was opened or has content.
        // Directives just before it belong to the new one.
        let cut = pos;
        if (!open) {
          const before = text.slice(start, pos);
          const firstDirective = before.startsWith('%') ? 0 : (before.indexOf('\n%') + 1 || -1);
          if (firstDirective >= 0 && !content(start, start + firstDirective)) cut = start; // all directives/comments
        }
        if (open || content(start, cut)) {
          yield { text: text.slice(start, cut), index: index++, line: startLine };
          start = cut;
          startLine = line - (text.slice(cut, pos).split('\n').length - 1);
        }
        open = true;
      } else {
        // A document-end marker: the document ends with this line (an empty one too, as the
        // `yaml` package counts it).
        const after = nl < 0 ? text.length : nl + 1;
        yield { text: text.slice(start, after), index: index++, line: startLine };
        start = after;
        startLine = line + 1;
        open = false;
      }
    }
    if (nl < 0) break;
    pos = nl + 1;
    line++;
  }
  if (open || content(start, text.length)) yield { text: text.slice(start), index: index++, line: startLine };
}

/** A comment-only or blank line (split at \n; a CRLF line keeps its \r). */
const BLANK_LINE = /^[ \t]*(?:#[^]*)?\r?$/;
/** The line text[from, to) is content: not a directive, and something other than white space before any comment. */
const isContentLine = (text: string, from: number, to: number) => text.charCodeAt(from) !== 37 && !BLANK_LINE.test(text.slice(from, to));
/** What may follow a document marker: YAML's white space (space, tab) or a line break. */
const isSeparator = (c: number) => c === 32 || c === 9 || c === 13 || c === 10;

/** Lines before a document's own first line (its `---`, else its first content), as `yaml` counts them. */
function leadingLines(text: string): number {
  let n = 0;
  for (let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; i < text.length; n++) {
    const c = text.charCodeAt(i);
    if (c === 45 && text.startsWith('---', i) && (i + 3 === text.length || isSeparator(text.charCodeAt(i + 3)))) return n;
    const e = text.indexOf('\n', i);
    if (isContentLine(text, i, e < 0 ? text.length : e)) return n;
    if (e < 0) break;
    i = e + 1;
  }
  return 0;
}

/**
 * YAML 1.2's core schema exactly as the `yaml` package resolves it (its schema/core/*.js tests),
 * for js-yaml: js-yaml's own CORE_SCHEMA reads `1_000`, `0b101` and `0_.` as numbers and `+.5`
 * as a string, which `yaml` does not.
 */
const scalar = (tag: string, test: RegExp, construct: (s: string) => unknown) =>
  new jsYaml.Type(`tag:yaml.org,2002:${tag}`, { kind: 'scalar', resolve: (s: string | null) => s !== null && test.test(s), construct: (s: string) => construct(s) });
const CORE_1_2 = jsYaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    scalar('null', /^(?:~|[Nn]ull|NULL)?$/, () => null),
    scalar('bool', /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    scalar('int', /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/, (s) => (s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : parseInt(s, 10))),
    scalar('float', /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*))$/, (s) =>
      /nan$/i.test(s) ? NaN : /inf$/i.test(s) ? (s[0] === '-' ? -Infinity : Infinity) : parseFloat(s),
    ),
  ],
});
const FAST = { schema: CORE_1_2, json: false } as const;
/**
 * Text the two parsers read alike: no tabs, carriage returns or other control characters (where
 * their error handling differs), no tags or directives, no byte-order mark. Real configuration
 * is this; anything else takes the careful path.
 */
const PLAIN_TEXT = /^(?!%)[\n\x20-\x20\x22-\x7e\u00a0-\ud7ff\ue000-\ufefe\uff00-\ufffd]*$/;
/** An anchor or alias (`&a`, `*a` starting a node): the careful path counts them against the limits. */
const ANCHOR_OR_ALIAS = /(?:^|[\s,[{])[&*][^\s,\]}]/m;
const COMPLEX_KEY = /(?:^|[\s,[{])\?(?:\s|$)|[\]}]\s*:/m;
/**
 * Where js-yaml is more lenient than YAML and the `yaml` package: content on a `---` line
 * (`--- a: 1` starts a block collection for js-yaml), a line starting with `---` or `...` and more
 * (`------`, `---...`: a marker and a scalar for js-yaml, a plain scalar in YAML) and a comment not
 * separated from what it follows (`"q"#c`, `[a]#c`).
 */
const LENIENT = /(?:^|\n)(?:---[ \t]+[^ \t\r\n#]|---[^ \t\r\n]|\.\.\.[^ \t\r\n])|["'\]}]#/;

/**
 * js-yaml's reading of one document, if it is plainly fine: no error, within the depth limit, no
 * node reached twice (an alias). Anything else: not ok, and the `yaml` pipeline decides.
 */
function readFast(text: string, limits: ParseLimits): { ok: true; value: unknown } | { ok: false } {
  // A mapping or sequence as a key (`? [a, b]`, `[a]: b`): js-yaml turns it into a string where
  // the careful path refuses it. Such text (or a string that only looks like it) goes there.
  if (COMPLEX_KEY.test(text) || ANCHOR_OR_ALIAS.test(text) || LENIENT.test(text) || !PLAIN_TEXT.test(text)) return { ok: false };
  let value: unknown;
  try {
    value = jsYaml.load(text, FAST);
  } catch {
    return { ok: false }; // a syntax error, a duplicate key, a stack overflow on deep nesting
  }
  const seen = new Set<object>();
  const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const { v, d } = top;
    if (v === null || typeof v !== 'object') continue;
    if (seen.has(v) || d >= limits.depth) return { ok: false };
    seen.add(v);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        if (Object.is(v[i], -0)) v[i] = 0; // as noNegativeZero on the careful path
        else stack.push({ v: v[i], d: d + 1 });
      }
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      const o = v as Record<string, unknown>;
      for (const k in o) {
        if (Object.is(o[k], -0)) o[k] = 0;
        else stack.push({ v: o[k], d: d + 1 });
      }
    } else return { ok: false }; // not JSON data
  }
  return { ok: true, value: Object.is(value, -0) ? 0 : value };
}

/** The careful path alone (the `yaml` package for every document); the differential test's reference. */
export function parseDocumentsCarefully(text: string, file: string, limits: ParseLimits = PARSE_LIMITS): { docs: RawDocument[]; errors: FieldError[] } {
  const docs: RawDocument[] = [];
  const errors: FieldError[] = [];
  if (!refuseLoneCarriageReturn(text, file, errors)) parseWithYaml(text, file, (d) => docs.push(d), errors, { left: limits.documents }, limits);
  return { docs, errors };
}

/**
 * A carriage return not followed by a line feed (old Mac line endings, or a stray one in a value)
 * refuses the file, with its line: YAML 1.2 makes it a line break, the `yaml` package reads it as
 * an ordinary character (a file of one `\r` is then a document), and js-yaml does either
 * depending on where it stands. Rather than guess which the author meant, the file is refused.
 */
function refuseLoneCarriageReturn(text: string, file: string, errors: FieldError[]): boolean {
  for (let i = text.indexOf('\r'); i >= 0; i = text.indexOf('\r', i + 1)) {
    if (text.charCodeAt(i + 1) === 10) continue;
    let line = 1;
    for (let j = text.indexOf('\n'); j >= 0 && j < i; j = text.indexOf('\n', j + 1)) line++;
    // The document it is in: chunks follow each other from the start of the text.
    let document = 0;
    let end = 0;
    for (const chunk of splitDocuments(text)) {
      document = chunk.index;
      if ((end += chunk.text.length) > i) break;
    }
    errors.push({ file, document, path: '', message: `line ${line}: a carriage return (\\r) not followed by a line feed; line breaks must be LF or CRLF` });
    return true;
  }
  return false;
}

function parseWithYaml(
  text: string,
  file: string,
  onDocument: (d: RawDocument) => void,
  errors: FieldError[],
  budget: DocumentBudget,
  limits: ParseLimits,
  /** Where `text` sits in its file: the index of its first document and the line before it. */
  base: { index: number; line: number } = { index: 0, line: 0 },
): void {
  const lines = new LineCounter();
  const lineOf = (offset: number) => Math.max(1, lines.linePos(offset).line) + base.line;
  const parser = new Parser(lines.addNewLine);
  // uniqueKeys off: the composer's check is quadratic in a mapping's size; badKey() does it.
  // The core schema even under `%YAML 1.1`: values stay JSON data (no Set, Date or Buffer).
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false, schema: 'core' });
  // Document indexes follow the parser's document tokens; the composer yields each document one
  // token late (it waits for trailing comments) and never sees the ones refused by admit().
  let next = 0;
  const admitted: number[] = [];
  let skipping = false;
  const take = (doc: Document.Parsed) => {
    const at = base.index + (admitted.shift() ?? next++);
    const err = (offset: number | undefined, message: string) => errors.push({ file, document: at, path: '', message: offset === undefined ? message : `YAML syntax error at line ${lineOf(offset)}: ${message}` });
    if (doc.errors.length) {
      for (const e of doc.errors) err(e.pos[0], e.message.split('\n')[0]!);
      return;
    }
    const bad = badKey(doc);
    if (bad) return err(bad.offset, bad.message);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: limits.aliases, reviver: noNegativeZero });
    } catch (e) {
      // The `yaml` package throws ReferenceError for an alias bomb or an unresolvable alias.
      const m = (e as Error).message;
      return err(undefined, /resource exhaustion/.test(m) ? `aliases expand to more than ${limits.aliases} nodes (limit ${limits.aliases}: an alias bomb?)` : `YAML error: ${m}`);
    }
    if (value === null || value === undefined) return; // empty document (e.g. a trailing ---)
    onDocument({ file, index: at, value, line: doc.range ? lineOf(doc.range[0]) : undefined });
  };
  const admit = (token: CST.Token): boolean => {
    if (token.type === 'doc-end') return !skipping;
    if (token.type !== 'document') return true;
    if (--budget.left < 0) throw tooMany(limits);
    const local = next++;
    const at = base.index + local;
    const s = shape(token, limits.depth);
    const why = s.depth > limits.depth ? `nesting deeper than ${limits.depth} levels (limit ${limits.depth})`
      : s.aliases > limits.aliases ? `${s.aliases} aliases (limit ${limits.aliases} per document)` : undefined;
    skipping = why !== undefined;
    if (!why) return admitted.push(local) > 0;
    errors.push({ file, document: at, path: '', message: `document at line ${lineOf(token.offset)}: ${why}` });
    return false;
  };
  const feed = (tokens: Iterable<CST.Token>) => {
    for (const token of tokens) {
      if (!admit(token)) continue;
      for (const doc of composer.next(token)) take(doc);
    }
  };
  lines.addNewLine(0);
  // Flow nesting is counted on the lexemes too: the parser's cost per token grows with the depth
  // of open flow collections, so `[[[[...` is stopped before it is parsed.
  let flow = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (lexeme === '[' || lexeme === '{') {
      if (++flow > limits.depth) {
        errors.push({ file, document: base.index + next, path: '', message: `nesting deeper than ${limits.depth} levels (limit ${limits.depth}); the rest of the file was not read` });
        return;
      }
    } else if (lexeme === ']' || lexeme === '}') flow = Math.max(0, flow - 1);
    else if (lexeme === '\x02' || lexeme === '\x18') flow = 0; // document start, flow ended by an error
    feed(parser.next(lexeme));
  }
  feed(parser.end());
  for (const doc of composer.end()) take(doc);
}

function tooMany(limits: ParseLimits): WeftError {
  return new WeftError('REQUEST_TOO_LARGE', `more than ${limits.documents} documents in one apply (limit ${limits.documents}); split the configuration into several applies`);
}

/** Nesting depth (stopping once past `maxDepth`) and alias count of one document's syntax tree, without recursion. */
function shape(doc: CST.Document, maxDepth: number): { depth: number; aliases: number } {
  let depth = 0;
  let aliases = 0;
  const stack: Array<{ t: CST.Token | null | undefined; d: number }> = [{ t: doc.value, d: 0 }];
  for (let top = stack.pop(); top; top = stack.pop()) {
    const { t, d } = top;
    if (!t) continue;
    if (t.type === 'alias') aliases++;
    else if (t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection') {
      if (d + 1 > depth && (depth = d + 1) > maxDepth) break;
      for (const it of t.items) stack.push({ t: it.key, d: d + 1 }, { t: it.value, d: d + 1 });
    }
  }
  return { depth, aliases };
}

/**
 * `-0` in a document reads as 0: what is stored (JSON, which has no -0) and served back is then what
 * was applied. (The fuzz test's store round trip found `samplingPercent: -0` coming back as 0.)
 */
function noNegativeZero(_key: unknown, value: unknown): unknown {
  return value === 0 && Object.is(value, -0) ? 0 : value;
}

/**
 * The first key that repeats one before it in the same mapping (scalar keys, compared as the
 * `yaml` package does), or that is a mapping or a sequence (no field name is; toJS would turn it
 * into a string and print a warning for each).
 */
function badKey(doc: Document.Parsed): { offset: number; message: string } | undefined {
  const stack: unknown[] = [doc.contents];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    if (isMap(n)) {
      const seen = new Set<unknown>();
      for (const p of n.items) {
        const k = isAlias(p.key) ? p.key.resolve(doc) : p.key;
        if (isCollection(k)) return { offset: (p.key as { range?: number[] }).range?.[0] ?? 0, message: 'a key must be a string, not a mapping or a sequence' };
        if (isScalar(p.key)) {
          if (seen.has(p.key.value)) return { offset: p.key.range?.[0] ?? 0, message: 'Map keys must be unique' };
          seen.add(p.key.value);
        }
        stack.push(p.value);
      }
    } else if (isSeq(n)) {
      for (const x of n.items) stack.push(isPair(x) ? x.value : x);
    }
  }
  return undefined;
}
