/**
 * Request validation compiled once (ValidationPolicy): JSON Schemas (draft 2020-12, Ajv with
 * ajv-formats) for JSON bodies, and an OpenAPI 3.1 document whose operations are matched by
 * method and path template and validate path, query and header parameters and the JSON body.
 * Both sides use this file: the control plane compiles a policy at apply time (errors with the
 * field path under `spec`), the proxy when it applies the xDS config (errors NACK it). The proxy
 * only calls the functions compiled here per request.
 *
 * Every violation is reported (allErrors), each as a `Violation`: where (`in`: body, query,
 * path, header), the parameter name for parameters, a JSON pointer into the value (for a missing
 * required property, the pointer of that property), the JSON Schema keyword and a message.
 */
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import { loadedAjv } from './ajv-lib.js';

export { loadValidation, validationLoaded } from './ajv-lib.js';

export type Location = 'body' | 'query' | 'path' | 'header';

/** One reason a request (or an audited response) is not valid. */
export interface Violation {
  readonly in: Location;
  /** The parameter's name (path, query, header); absent for the body. */
  readonly name?: string;
  /** JSON pointer (RFC 6901) into the body or the parameter's value; '' for the whole value. */
  readonly pointer: string;
  readonly keyword: string;
  readonly message: string;
}

/** A config error: `path` is relative to the policy (e.g. `openapi.paths./pets.get.parameters[0].schema`). */
export interface CompileProblem {
  readonly path: string;
  readonly message: string;
}

/** Keywords OpenAPI 3.1 adds to JSON Schema that only annotate (they validate nothing). */
const OPENAPI_ANNOTATIONS = ['example', 'xml', 'externalDocs', 'discriminator'];
/** The OpenAPI document's own top-level fields: the document is added to Ajv whole, so `$ref`s into it resolve. */
const OPENAPI_ROOT = ['openapi', 'info', 'paths', 'components', 'servers', 'security', 'tags', 'webhooks', 'jsonSchemaDialect'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
const DOC_ID = 'weft:openapi';
/** Methods whose requests must carry a body when a request body schema is set. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

function newAjv(coerce: boolean, openapi: boolean): Ajv2020 {
  const lib = loadedAjv();
  if (!lib) throw new Error('the JSON Schema validator (Ajv) is not loaded');
  const { Ajv2020, addFormats } = lib;
  const ajv = new Ajv2020({
    allErrors: true,
    strict: true,
    // Types and tuples as JSON Schema allows them; unknown keywords and formats stay errors.
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    allowUnionTypes: true,
    ...(coerce ? { coerceTypes: 'array' as const } : {}),
  });
  addFormats(ajv);
  ajv.addVocabulary(openapi ? [...OPENAPI_ANNOTATIONS, ...OPENAPI_ROOT] : OPENAPI_ANNOTATIONS);
  return ajv;
}

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Ajv errors -> violations at `loc` (parameters: the first pointer segment is the parameter name). */
function violations(errors: readonly ErrorObject[] | null | undefined, loc: Location, out: Violation[]): void {
  for (const e of errors ?? []) {
    let pointer = e.instancePath;
    if (e.keyword === 'required') pointer += `/${escapePointer(String((e.params as { missingProperty: string }).missingProperty))}`;
    if (loc === 'body') {
      out.push({ in: loc, pointer, keyword: e.keyword, message: e.message ?? e.keyword });
      continue;
    }
    // A parameter object: /name/rest -> name, /rest.
    const slash = pointer.indexOf('/', 1);
    const first = slash < 0 ? pointer.slice(1) : pointer.slice(1, slash);
    const name = first.replace(/~1/g, '/').replace(/~0/g, '~');
    out.push({ in: loc, name, pointer: slash < 0 ? '' : pointer.slice(slash), keyword: e.keyword, message: e.keyword === 'required' ? `the ${loc} parameter '${name}' is required` : (e.message ?? e.keyword) });
  }
}

/** A JSON body check: the schema, and whether the body must be there. */
export interface BodyCheck {
  readonly validate: ValidateFunction;
  readonly required: boolean;
}

/** One OpenAPI operation, compiled. */
export interface Operation {
  /** `METHOD /template`, for logs. */
  readonly id: string;
  readonly path?: ValidateFunction;
  readonly query?: ValidateFunction;
  readonly header?: ValidateFunction;
  /** Header parameter names (lowercase) to read. */
  readonly headerNames: readonly string[];
  readonly body?: BodyCheck;
  /** Response body schemas by status ('200', '2XX', 'default'). */
  readonly responses: ReadonlyMap<string, ValidateFunction>;
}

interface Template {
  /** Literal segment, or undefined for a parameter (its name in `names`). */
  readonly segments: readonly (string | undefined)[];
  readonly names: readonly string[];
  readonly literals: number;
  readonly ops: ReadonlyMap<string, Operation>;
}

/** A matched operation and the path parameters the template took. */
export interface OperationMatch {
  readonly op: Operation;
  readonly params: Record<string, string>;
}

/** What the proxy runs per request, built once. */
export interface CompiledValidation {
  readonly body?: BodyCheck;
  readonly responseBody?: ValidateFunction;
  readonly openapi?: OpenApi;
}

export class OpenApi {
  constructor(private readonly templates: readonly Template[]) {}

  /** The operation for `method` (upper case) and `path` (no query), or undefined. */
  match(method: string, path: string): OperationMatch | undefined {
    const m = method.toLowerCase();
    const segs = path.split('/');
    for (const t of this.templates) {
      if (t.segments.length !== segs.length) continue;
      const op = t.ops.get(m);
      if (!op) continue;
      let ok = true;
      for (let i = 0; i < segs.length; i++) {
        const want = t.segments[i];
        if (want !== undefined ? want !== segs[i] : segs[i] === '') {
          ok = false;
          break;
        }
      }
      if (!ok) continue;
      const params: Record<string, string> = {};
      let n = 0;
      for (let i = 0; i < segs.length; i++) {
        if (t.segments[i] !== undefined) continue;
        let v = segs[i]!;
        try {
          v = decodeURIComponent(v);
        } catch {
          // Left as sent: the schema decides.
        }
        params[t.names[n++]!] = v;
      }
      return { op, params };
    }
    return undefined;
  }
}

/** Validates parameters of a matched operation and collects violations. */
export function checkParameters(m: OperationMatch, search: string, req: { header(name: string): string | undefined }, out: Violation[]): void {
  const { op } = m;
  if (op.path && !op.path(m.params)) violations(op.path.errors, 'path', out);
  if (op.query) {
    const q: Record<string, string | string[]> = {};
    if (search.length > 1) {
      for (const [k, v] of new URLSearchParams(search)) {
        const had = q[k];
        q[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
      }
    }
    if (!op.query(q)) violations(op.query.errors, 'query', out);
  }
  if (op.header) {
    const h: Record<string, string> = {};
    for (const n of op.headerNames) {
      const v = req.header(n);
      if (v !== undefined) h[n] = v;
    }
    if (!op.header(h)) violations(op.header.errors, 'header', out);
  }
}

/** Validates a parsed JSON body; violations at `body`. */
export function checkBody(v: ValidateFunction, body: unknown, out: Violation[]): void {
  if (!v(body)) violations(v.errors, 'body', out);
}

/** The response schema of `op` for `status`: exact, then `2XX`, then `default`. */
export function responseSchema(op: Operation, status: number): ValidateFunction | undefined {
  const s = String(status);
  return op.responses.get(s) ?? op.responses.get(`${s[0]}XX`) ?? op.responses.get('default');
}

// ------------------------------------------------------------------------------------ compiling

export interface ValidationSource {
  /** JSON Schema objects (already parsed) or undefined. */
  readonly requestBodySchema?: unknown;
  readonly responseBodySchema?: unknown;
  readonly openapi?: unknown;
}

/** Field names of the source, as the caller spells them in problem paths. */
export interface SourceNames {
  readonly requestBodySchema: string;
  readonly responseBodySchema: string;
  readonly openapi: string;
}

const DEFAULT_NAMES: SourceNames = { requestBodySchema: 'requestBodySchema', responseBodySchema: 'responseBodySchema', openapi: 'openapi' };

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a content type is JSON (application/json, or any `+json` suffix). */
export function isJsonType(ct: string | undefined): boolean {
  if (!ct) return false;
  const semi = ct.indexOf(';');
  const t = (semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json');
}

/** A `{"$ref": "#/..."}` object followed within the document (at most 16 hops); [value, its pointer]. */
function deref(doc: Record<string, unknown>, v: unknown, pointer: string, problems: CompileProblem[], path: string): [unknown, string] | undefined {
  let cur = v;
  let at = pointer;
  for (let hops = 0; isObj(cur) && typeof cur.$ref === 'string'; hops++) {
    const ref = cur.$ref;
    if (hops >= 16 || !ref.startsWith('#/')) {
      problems.push({ path: `${path}.$ref`, message: hops >= 16 ? 'too many $ref hops (a cycle?)' : `'${ref}' is not a reference within the document (#/...)` });
      return undefined;
    }
    let x: unknown = doc;
    for (const raw of ref.slice(2).split('/')) {
      const k = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      x = isObj(x) || Array.isArray(x) ? (x as Record<string, unknown>)[k] : undefined;
    }
    if (x === undefined) {
      problems.push({ path: `${path}.$ref`, message: `'${ref}' does not resolve within the document` });
      return undefined;
    }
    cur = x;
    at = ref.slice(1);
  }
  return [cur, at];
}

function compileRef(ajv: Ajv2020, pointer: string, problems: CompileProblem[], path: string): ValidateFunction | undefined {
  try {
    return ajv.compile({ $ref: `${DOC_ID}#${pointer.split('/').map((s, i) => (i === 0 ? s : encodeURIComponent(s).replace(/%7E/g, '~'))).join('/')}` });
  } catch (e) {
    problems.push({ path, message: messageOf(e) });
    return undefined;
  }
}

function compileSchema(ajv: Ajv2020, schema: unknown, problems: CompileProblem[], path: string): ValidateFunction | undefined {
  if (typeof schema !== 'boolean' && !isObj(schema)) {
    problems.push({ path, message: 'must be a JSON Schema (an object or a boolean)' });
    return undefined;
  }
  try {
    return ajv.compile(schema as object);
  } catch (e) {
    problems.push({ path, message: messageOf(e) });
    return undefined;
  }
}

/** The JSON media type's schema pointer in a `content` map, if it has one. */
function jsonContent(content: unknown, ptr: string): string | undefined {
  if (!isObj(content)) return undefined;
  for (const [type, media] of Object.entries(content)) {
    if (isJsonType(type) && isObj(media) && media.schema !== undefined) return `${ptr}/content/${escapePointer(type)}/schema`;
  }
  return undefined;
}

function compileOpenApi(doc: unknown, problems: CompileProblem[], p: string): OpenApi | undefined {
  if (!isObj(doc)) {
    problems.push({ path: p, message: 'must be an OpenAPI 3.1 document (an object)' });
    return undefined;
  }
  const before = problems.length;
  if (typeof doc.openapi !== 'string' || !doc.openapi.startsWith('3.1.')) problems.push({ path: `${p}.openapi`, message: `must be 3.1.x (JSON Schema 2020-12 schemas); got ${JSON.stringify(doc.openapi)}` });
  if (doc.jsonSchemaDialect !== undefined && doc.jsonSchemaDialect !== 'https://json-schema.org/draft/2020-12/schema') problems.push({ path: `${p}.jsonSchemaDialect`, message: 'only JSON Schema draft 2020-12 is supported' });
  if (!isObj(doc.paths) || Object.keys(doc.paths).length === 0) problems.push({ path: `${p}.paths`, message: 'must have at least one path' });
  if (problems.length > before) return undefined;
  // Two instances: parameters arrive as strings and are coerced to the schema's types; bodies are JSON and are not.
  const bodyAjv = newAjv(false, true);
  const paramAjv = newAjv(true, true);
  try {
    bodyAjv.addSchema(doc, DOC_ID);
    paramAjv.addSchema(doc, DOC_ID);
  } catch (e) {
    problems.push({ path: p, message: messageOf(e) });
    return undefined;
  }
  // Component schemas one by one, so an error names the schema it is in.
  const comps = isObj(doc.components) && isObj(doc.components.schemas) ? doc.components.schemas : {};
  for (const name of Object.keys(comps)) compileRef(bodyAjv, `/components/schemas/${escapePointer(name)}`, problems, `${p}.components.schemas.${name}`);
  const templates: Template[] = [];
  for (const [tpl, item] of Object.entries(doc.paths as Record<string, unknown>)) {
    const ip = `${p}.paths.${tpl}`;
    const iptr = `/paths/${escapePointer(tpl)}`;
    if (!tpl.startsWith('/')) {
      problems.push({ path: ip, message: "a path template starts with '/'" });
      continue;
    }
    if (!isObj(item)) {
      problems.push({ path: ip, message: 'must be a Path Item object' });
      continue;
    }
    const segments: (string | undefined)[] = [];
    const names: string[] = [];
    let bad = false;
    for (const s of tpl.split('/')) {
      const m = /^\{([^{}]+)\}$/.exec(s);
      if (m) {
        names.push(m[1]!);
        segments.push(undefined);
      } else if (s.includes('{') || s.includes('}')) {
        problems.push({ path: ip, message: `segment '${s}': a template parameter takes a whole path segment ({name})` });
        bad = true;
      } else segments.push(s);
    }
    if (bad) continue;
    const ops = new Map<string, Operation>();
    const shared = Array.isArray(item.parameters) ? item.parameters : [];
    for (const method of METHODS) {
      const op = item[method];
      if (op === undefined) continue;
      const op1 = compileOperation(doc, bodyAjv, paramAjv, op, shared, names, problems, `${ip}.${method}`, `${iptr}/${method}`, iptr, `${method.toUpperCase()} ${tpl}`);
      if (op1) ops.set(method, op1);
    }
    templates.push({ segments, names, literals: segments.filter((s) => s !== undefined).length, ops });
  }
  // A concrete path wins over a template that also matches it (OpenAPI: /pets/mine before /pets/{id}).
  templates.sort((a, b) => b.literals - a.literals);
  return new OpenApi(templates);
}

interface Param {
  readonly name: string;
  readonly in: string;
  readonly required: boolean;
  readonly ptr: string | undefined;
}

function readParams(doc: Record<string, unknown>, ajv: Ajv2020, list: readonly unknown[], basePtr: string, problems: CompileProblem[], path: string): Param[] {
  const out: Param[] = [];
  list.forEach((raw, i) => {
    const q = `${path}.parameters[${i}]`;
    const r = deref(doc, raw, `${basePtr}/parameters/${i}`, problems, q);
    if (!r) return;
    const [v, ptr] = r;
    if (!isObj(v) || typeof v.name !== 'string' || typeof v.in !== 'string') {
      problems.push({ path: q, message: 'a Parameter object needs name and in' });
      return;
    }
    if (!['path', 'query', 'header', 'cookie'].includes(v.in)) {
      problems.push({ path: `${q}.in`, message: `must be one of path, query, header, cookie; got '${v.in}'` });
      return;
    }
    if (v.in === 'cookie') {
      problems.push({ path: `${q}.in`, message: 'cookie parameters are not validated by Weft; remove the parameter' });
      return;
    }
    if (v.content !== undefined) {
      problems.push({ path: `${q}.content`, message: 'parameters with content (not schema) are not validated by Weft; use schema' });
      return;
    }
    // Compiled alone first, so an error names the parameter's schema.
    if (v.schema !== undefined && !compileRef(ajv, `${ptr}/schema`, problems, `${q}.schema`)) return;
    out.push({ name: v.in === 'header' ? v.name.toLowerCase() : v.name, in: v.in, required: v.in === 'path' || v.required === true, ptr: v.schema === undefined ? undefined : `${ptr}/schema` });
  });
  return out;
}

function paramValidator(ajv: Ajv2020, params: readonly Param[], problems: CompileProblem[], path: string): ValidateFunction | undefined {
  if (params.length === 0) return undefined;
  const properties: Record<string, unknown> = {};
  for (const x of params) properties[x.name] = x.ptr === undefined ? true : { $ref: `${DOC_ID}#${x.ptr.split('/').map((s, i) => (i === 0 ? s : encodeURIComponent(s).replace(/%7E/g, '~'))).join('/')}` };
  try {
    return ajv.compile({ type: 'object', properties, required: params.filter((x) => x.required).map((x) => x.name) });
  } catch (e) {
    problems.push({ path, message: messageOf(e) });
    return undefined;
  }
}

function compileOperation(
  doc: Record<string, unknown>,
  bodyAjv: Ajv2020,
  paramAjv: Ajv2020,
  op: unknown,
  shared: readonly unknown[],
  templateNames: readonly string[],
  problems: CompileProblem[],
  p: string,
  ptr: string,
  itemPtr: string,
  id: string,
): Operation | undefined {
  if (!isObj(op)) {
    problems.push({ path: p, message: 'must be an Operation object' });
    return undefined;
  }
  const before = problems.length;
  // Operation parameters override the path item's of the same name and location.
  const merged = new Map<string, Param>();
  for (const x of readParams(doc, paramAjv, shared, itemPtr, problems, p.slice(0, p.lastIndexOf('.')))) merged.set(`${x.in}:${x.name}`, x);
  for (const x of readParams(doc, paramAjv, Array.isArray(op.parameters) ? op.parameters : [], ptr, problems, p)) merged.set(`${x.in}:${x.name}`, x);
  if (problems.length > before) return undefined;
  const all = [...merged.values()];
  const pathParams = all.filter((x) => x.in === 'path');
  for (const n of templateNames) if (!pathParams.some((x) => x.name === n)) problems.push({ path: `${p}.parameters`, message: `the template's parameter '${n}' is not declared (in: path)` });
  for (const x of pathParams) if (!templateNames.includes(x.name)) problems.push({ path: `${p}.parameters`, message: `path parameter '${x.name}' is not in the path template` });
  const path = paramValidator(paramAjv, pathParams, problems, `${p}.parameters`);
  const query = paramValidator(paramAjv, all.filter((x) => x.in === 'query'), problems, `${p}.parameters`);
  const headers = all.filter((x) => x.in === 'header');
  const header = paramValidator(paramAjv, headers, problems, `${p}.parameters`);
  let body: BodyCheck | undefined;
  if (op.requestBody !== undefined) {
    const r = deref(doc, op.requestBody, `${ptr}/requestBody`, problems, `${p}.requestBody`);
    if (r && isObj(r[0])) {
      const sp = jsonContent(r[0].content, r[1]);
      if (sp) {
        const v = compileRef(bodyAjv, sp, problems, `${p}.requestBody`);
        if (v) body = { validate: v, required: r[0].required === true };
      }
    }
  }
  const responses = new Map<string, ValidateFunction>();
  if (isObj(op.responses)) {
    for (const [status, raw] of Object.entries(op.responses)) {
      const q = `${p}.responses.${status}`;
      if (!/^(default|[1-5](XX|\d\d))$/.test(status)) {
        problems.push({ path: q, message: 'a response key is a status code, a range such as 2XX, or default' });
        continue;
      }
      const r = deref(doc, raw, `${ptr}/responses/${escapePointer(status)}`, problems, q);
      if (!r || !isObj(r[0])) continue;
      const sp = jsonContent(r[0].content, r[1]);
      if (!sp) continue;
      const v = compileRef(bodyAjv, sp, problems, q);
      if (v) responses.set(status, v);
    }
  }
  if (problems.length > before) return undefined;
  return { id, ...(path ? { path } : {}), ...(query ? { query } : {}), ...(header ? { header } : {}), headerNames: headers.map((x) => x.name), ...(body ? { body } : {}), responses };
}

/**
 * Compiles a policy's schemas. Problems carry paths relative to the policy, spelled with `names`
 * (the control plane's `spec.requestBodySchema`, the proxy's proto field names).
 */
export function compileValidation(src: ValidationSource, problems: CompileProblem[], names: SourceNames = DEFAULT_NAMES): CompiledValidation {
  const out: { body?: BodyCheck; responseBody?: ValidateFunction; openapi?: OpenApi } = {};
  if (!loadedAjv()) {
    // Fail closed: whoever compiles awaits loadValidation() first; if that was skipped, the
    // config is refused, never applied without its checks.
    problems.push({ path: '', message: 'the JSON Schema validator (Ajv) is not loaded in this process' });
    return out;
  }
  const ajv = newAjv(false, false);
  if (src.requestBodySchema !== undefined) {
    const v = compileSchema(ajv, src.requestBodySchema, problems, names.requestBodySchema);
    if (v) out.body = { validate: v, required: true };
  }
  if (src.responseBodySchema !== undefined) {
    const v = compileSchema(ajv, src.responseBodySchema, problems, names.responseBodySchema);
    if (v) out.responseBody = v;
  }
  if (src.openapi !== undefined) {
    const o = compileOpenApi(src.openapi, problems, names.openapi);
    if (o) out.openapi = o;
  }
  return out;
}

/** Whether a request with this method must carry a body when a body schema applies. */
export function bodyExpected(method: string): boolean {
  return BODY_METHODS.has(method);
}
