/**
 * weft.filters.http.transformation (weft.v1.Transformation, a TransformationPolicy): edits of
 * the request on its way to the upstream and of the response on its way back, all compiled when
 * the config is applied.
 * - headers (request and response): remove, then set, then add (append);
 * - query parameters: rename, remove, set, add;
 * - JSON body fields, by JSON pointer (RFC 6901), in order: rename, remove, or set from a
 *   constant, a request header, a claim of the verified JWT (info.jwt.payload) or the consumer
 *   (info.consumer); a source that is absent leaves the field alone;
 * - XML: the JSON request body (after its edits) to the upstream as XML under a root element;
 *   an XML response to the client as JSON (xml-json.ts has the mapping); content-type and
 *   content-length follow.
 * A body is buffered only when a body rule applies to it (JSON request edits or conversion: a
 * JSON content type; response edits: JSON; response conversion: XML), to max_body_bytes: a
 * request past it is 413, an upstream response 502 TRANSFORM_FAILED. Malformed JSON or XML is
 * 400 TRANSFORM_FAILED for a request, 502 for a response. Everything else streams untouched.
 * With response body rules the request's accept-encoding is removed (a compressed body cannot be
 * edited); a compressed response that arrives anyway is 502. The route's config replaces the
 * listener's. gRPC calls pass untouched.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { getAt, parsePointer, removeAt, setAt } from '../../../common/json-pointer.js';
import { isJsonType } from '../../../common/validation/compile.js';
import { TransformationSchema, type BodyFieldMapping, type HeaderMutations, type QueryMutations, type Transformation } from '../../../proto/gen/weft/v1/transformation_pb.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Problems } from '../../xds/types/decoded.js';
import { ForwardingSink, RequestView, type Filter, type Handler, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { bodyStream, carriesBody, DEFAULT_BODY_BOUND, readBounded } from '../bounded-body.js';
import { respondError } from '../respond.js';
import { isXmlName, isXmlType, jsonToXml, loadXml, xmlLoaded, xmlToJson, XmlJsonError } from '../xml-json.js';
import type { Readable } from 'node:stream';

const FIELDS = supportedFields({
  'weft.v1.Transformation': ['name', 'request_headers', 'query', 'request_body', 'response_headers', 'response_body', 'request_json_to_xml_root', 'response_xml_to_json', 'max_body_bytes'],
  'weft.v1.HeaderMutations': ['add', 'set', 'remove'],
  'weft.v1.QueryMutations': ['add', 'set', 'remove', 'rename'],
  'weft.v1.NameValue': ['name', 'value'],
  'weft.v1.QueryRename': ['from', 'to'],
  'weft.v1.BodyFieldMapping': ['pointer', 'rename_to', 'remove', 'value_json', 'from_header', 'from_jwt_claim', 'from_consumer'],
});

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers a transformation may not touch: framing and hop-by-hop (the proxy owns them). */
const RESERVED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'host', 'proxy-connection', 'trailer']);

type FieldOp =
  | { readonly kind: 'rename'; readonly at: readonly string[]; readonly to: readonly string[] }
  | { readonly kind: 'remove'; readonly at: readonly string[] }
  | { readonly kind: 'const'; readonly at: readonly string[]; readonly value: unknown }
  | { readonly kind: 'header'; readonly at: readonly string[]; readonly header: string }
  | { readonly kind: 'claim'; readonly at: readonly string[]; readonly claim: readonly string[] }
  | { readonly kind: 'consumer'; readonly at: readonly string[] };

interface Headers {
  readonly remove: ReadonlySet<string>;
  readonly set: ReadonlyMap<string, string>;
  readonly add: readonly (readonly [string, string])[];
}

interface Query {
  readonly rename: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
  readonly set: readonly (readonly [string, string])[];
  readonly add: readonly (readonly [string, string])[];
}

/** A Transformation, compiled. */
export interface TransformationConfig {
  readonly name: string;
  readonly reqHeaders: Headers | undefined;
  readonly query: Query | undefined;
  readonly reqBody: readonly FieldOp[];
  readonly resHeaders: Headers | undefined;
  readonly resBody: readonly FieldOp[];
  readonly xmlRoot: string;
  readonly xmlResponse: boolean;
  readonly maxBody: number;
  readonly empty: boolean;
}

function readHeaders(m: HeaderMutations | undefined, p: Problems, path: string): Headers | undefined {
  if (!m || (m.add.length === 0 && m.set.length === 0 && m.remove.length === 0)) return undefined;
  const name = (n: string, q: string): boolean => {
    if (!HEADER_NAME.test(n)) p.add(q, `'${n}' is not a lowercase header name`);
    else if (RESERVED.has(n) || n.startsWith(':')) p.add(q, `'${n}' is a framing or hop-by-hop header the proxy owns`);
    else return true;
    return false;
  };
  const value = (v: string, q: string): void => {
    if (!HEADER_VALUE.test(v)) p.add(q, 'has characters a header value cannot carry (control characters, CR, LF)');
  };
  m.remove.forEach((n, i) => name(n, `${path}.remove[${i}]`));
  m.set.forEach((x, i) => {
    name(x.name, `${path}.set[${i}].name`);
    value(x.value, `${path}.set[${i}].value`);
  });
  m.add.forEach((x, i) => {
    name(x.name, `${path}.add[${i}].name`);
    value(x.value, `${path}.add[${i}].value`);
  });
  return { remove: new Set(m.remove), set: new Map(m.set.map((x) => [x.name, x.value])), add: m.add.map((x) => [x.name, x.value] as const) };
}

function readQuery(m: QueryMutations | undefined, p: Problems, path: string): Query | undefined {
  if (!m || (m.add.length === 0 && m.set.length === 0 && m.remove.length === 0 && m.rename.length === 0)) return undefined;
  const check = (n: string, q: string): void => {
    if (n === '') p.add(q, 'must not be empty');
  };
  m.remove.forEach((n, i) => check(n, `${path}.remove[${i}]`));
  m.set.forEach((x, i) => check(x.name, `${path}.set[${i}].name`));
  m.add.forEach((x, i) => check(x.name, `${path}.add[${i}].name`));
  m.rename.forEach((x, i) => {
    check(x.from, `${path}.rename[${i}].from`);
    check(x.to, `${path}.rename[${i}].to`);
  });
  return { rename: m.rename.map((x) => [x.from, x.to] as const), remove: m.remove, set: m.set.map((x) => [x.name, x.value] as const), add: m.add.map((x) => [x.name, x.value] as const) };
}

function pointer(s: string, p: Problems, q: string): string[] | undefined {
  const r = parsePointer(s);
  if (typeof r === 'string') {
    p.add(q, r);
    return undefined;
  }
  return r;
}

function readFields(list: readonly BodyFieldMapping[], request: boolean, p: Problems, path: string): FieldOp[] {
  const out: FieldOp[] = [];
  list.forEach((f, i) => {
    const q = `${path}[${i}]`;
    const at = pointer(f.pointer, p, `${q}.pointer`);
    if (!at) return;
    const a = f.action;
    switch (a.case) {
      case 'renameTo': {
        const to = pointer(a.value, p, `${q}.rename_to`);
        if (to && at.length === 0) p.add(`${q}.pointer`, 'the whole body cannot be renamed');
        else if (to) out.push({ kind: 'rename', at, to });
        return;
      }
      case 'remove':
        if (!a.value) p.add(`${q}.remove`, 'must be true when set');
        else if (at.length === 0) p.add(`${q}.pointer`, 'the whole body cannot be removed');
        else out.push({ kind: 'remove', at });
        return;
      case 'valueJson':
        try {
          out.push({ kind: 'const', at, value: JSON.parse(a.value) as unknown });
        } catch (e) {
          p.add(`${q}.value_json`, `is not JSON text: ${(e as Error).message}`);
        }
        return;
      case 'fromHeader':
        if (!HEADER_NAME.test(a.value)) p.add(`${q}.from_header`, `'${a.value}' is not a lowercase header name`);
        else if (!request) p.add(`${q}.from_header`, 'only request body fields take a request header');
        else out.push({ kind: 'header', at, header: a.value });
        return;
      case 'fromJwtClaim': {
        const claim = pointer(a.value, p, `${q}.from_jwt_claim`);
        if (claim) out.push({ kind: 'claim', at, claim });
        return;
      }
      case 'fromConsumer':
        if (!a.value) p.add(`${q}.from_consumer`, 'must be true when set');
        else out.push({ kind: 'consumer', at });
        return;
      default:
        p.add(q, 'needs an action: rename_to, remove, value_json, from_header, from_jwt_claim or from_consumer');
    }
  });
  return out;
}

const COMPILED = new Map<string, TransformationConfig>();

function parseTransformation(any: Any, p: Problems, path: string): TransformationConfig | undefined {
  const key = Buffer.from(any.value).toString('base64');
  const hit = COMPILED.get(key);
  if (hit) return hit;
  const m = unpackAny(any, TransformationSchema) as Transformation | undefined;
  if (!m) {
    p.add(path, 'is not a weft.v1.Transformation');
    return undefined;
  }
  checkSupported(TransformationSchema, m, FIELDS, p, path);
  const before = p.errors.length;
  const reqHeaders = readHeaders(m.requestHeaders, p, `${path}.request_headers`);
  const query = readQuery(m.query, p, `${path}.query`);
  const reqBody = readFields(m.requestBody, true, p, `${path}.request_body`);
  const resHeaders = readHeaders(m.responseHeaders, p, `${path}.response_headers`);
  const resBody = readFields(m.responseBody, false, p, `${path}.response_body`);
  if (m.requestJsonToXmlRoot !== '' && !isXmlName(m.requestJsonToXmlRoot)) p.add(`${path}.request_json_to_xml_root`, `'${m.requestJsonToXmlRoot}' is not an XML element name`);
  const empty = !reqHeaders && !query && reqBody.length === 0 && !resHeaders && resBody.length === 0 && m.requestJsonToXmlRoot === '' && !m.responseXmlToJson;
  if (!empty && m.name === '') p.add(`${path}.name`, 'is required');
  const bodyRules = reqBody.length > 0 || resBody.length > 0 || m.requestJsonToXmlRoot !== '' || m.responseXmlToJson;
  if (m.maxBodyBytes !== 0n && !bodyRules) p.add(`${path}.max_body_bytes`, 'has no effect without a body rule');
  if (p.errors.length > before) return undefined;
  const cfg: TransformationConfig = { name: m.name, reqHeaders, query, reqBody, resHeaders, resBody, xmlRoot: m.requestJsonToXmlRoot, xmlResponse: m.responseXmlToJson, maxBody: m.maxBodyBytes === 0n ? DEFAULT_BODY_BOUND : Number(m.maxBodyBytes), empty };
  if (COMPILED.size >= 256) COMPILED.delete(COMPILED.keys().next().value!);
  COMPILED.set(key, cfg);
  return cfg;
}

/** Applies `ops` to a parsed JSON body; returns the new body. */
function applyFields(doc: unknown, ops: readonly FieldOp[], req: RequestHead | undefined, info: RequestInfo): unknown {
  let d = doc;
  for (const op of ops) {
    let value: unknown;
    switch (op.kind) {
      case 'remove':
        removeAt(d, op.at);
        continue;
      case 'rename': {
        const v = getAt(d, op.at);
        if (v === undefined) continue;
        removeAt(d, op.at);
        const r = setAt(d, op.to, v);
        if (r) d = r.doc;
        continue;
      }
      case 'const':
        // Parsed once at config time; an object or array is copied, since later edits may change it.
        value = typeof op.value === 'object' && op.value !== null ? structuredClone(op.value) : op.value;
        break;
      case 'header':
        value = req?.header(op.header);
        break;
      case 'claim':
        value = info.jwt ? getAt(info.jwt.payload, op.claim) : undefined;
        break;
      case 'consumer':
        value = info.consumer || undefined;
        break;
    }
    if (value === undefined) continue;
    const r = setAt(d, op.at, value);
    if (r) d = r.doc;
  }
  return d;
}

function editQuery(search: string, q: Query): string {
  const sp = new URLSearchParams(search);
  for (const [from, to] of q.rename) {
    const vals = sp.getAll(from);
    if (vals.length === 0) continue;
    sp.delete(from);
    for (const v of vals) sp.append(to, v);
  }
  for (const n of q.remove) sp.delete(n);
  for (const [n, v] of q.set) sp.set(n, v);
  for (const [n, v] of q.add) sp.append(n, v);
  const s = sp.toString();
  return s ? `?${s}` : '';
}

/** The request as the upstream gets it: edited headers, query, and perhaps a new body. */
class TransformedRequest extends RequestView {
  readonly #pairs: string[];
  readonly #search: string;
  readonly #body: Buffer | undefined;
  #stream: Readable | undefined;
  constructor(req: RequestHead, pairs: string[], search: string, body: Buffer | undefined) {
    super(req);
    this.#pairs = pairs;
    this.#search = search;
    this.#body = body;
  }
  override get search(): string {
    return this.#search;
  }
  override get hasBody(): boolean {
    return this.#body ? true : this.req.hasBody;
  }
  override get body(): Readable {
    if (!this.#body) return this.req.body;
    return (this.#stream ??= bodyStream(this.#body));
  }
  override header(name: string): string | undefined {
    if (name.startsWith(':')) return name === ':path' ? this.req.path + this.#search : this.req.header(name);
    let out: string | undefined;
    for (let i = 0; i < this.#pairs.length; i += 2) if (this.#pairs[i] === name) out = out === undefined ? this.#pairs[i + 1] : `${out}, ${this.#pairs[i + 1]}`;
    return out;
  }
  override rawPairs(): string[] {
    return this.#pairs;
  }
}

function editPairs(src: readonly string[], h: Headers | undefined, replace: ReadonlyMap<string, string | undefined> | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i < src.length; i += 2) {
    const n = src[i]!;
    if (h && (h.remove.has(n) || h.set.has(n))) continue;
    if (replace?.has(n)) continue;
    out.push(n, src[i + 1]!);
  }
  if (h) {
    for (const [n, v] of h.set) out.push(n, v);
    for (const [n, v] of h.add) out.push(n, v);
  }
  if (replace) for (const [n, v] of replace) if (v !== undefined) out.push(n, v);
  return out;
}

function editResponseHeaders(headers: ResponseHeaders, h: Headers | undefined): ResponseHeaders {
  if (!h) return headers;
  const out: ResponseHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!h.remove.has(k) && !h.set.has(k)) out[k] = v;
  for (const [n, v] of h.set) out[n] = v;
  for (const [n, v] of h.add) {
    const had = out[n];
    out[n] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [String(had), v];
  }
  return out;
}

function headerText(v: string | string[] | number | undefined): string | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v[0] : String(v);
}

/**
 * The response sink of a transformed request: header edits on the head; a body a rule applies
 * to is held (bounded), transformed and sent whole with its new content-type and length.
 */
class TransformSink extends ForwardingSink {
  #status = 0;
  #headers: ResponseHeaders | undefined;
  #chunks: Buffer[] = [];
  #n = 0;
  #failed = false;
  #xml = false;
  constructor(
    res: ResponseSink,
    private readonly cfg: TransformationConfig,
    private readonly req: RequestHead,
    private readonly info: RequestInfo,
  ) {
    super(res);
  }
  override get headersSent(): boolean {
    return this.#headers !== undefined || this.res.headersSent;
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    const edited = editResponseHeaders(headers, this.cfg.resHeaders);
    const ct = headerText(headers['content-type']);
    const xml = this.cfg.xmlResponse && isXmlType(ct);
    const json = this.cfg.resBody.length > 0 && (isJsonType(ct) || xml);
    if (endStream || this.req.method === 'HEAD' || status === 204 || status === 304 || (!xml && !json)) {
      this.res.writeHead(status, edited, endStream);
      return;
    }
    const enc = headerText(headers['content-encoding']);
    if (enc && enc.toLowerCase() !== 'identity') {
      this.#fail(`the upstream response is ${enc}-encoded and cannot be transformed`);
      return;
    }
    this.#status = status;
    this.#headers = edited;
    this.#xml = xml;
  }
  override write(chunk: Buffer): boolean {
    if (this.#failed) return true;
    if (!this.#headers) return this.res.write(chunk);
    this.#n += chunk.length;
    if (this.#n > this.cfg.maxBody) {
      this.#fail(`the upstream response body is larger than ${this.cfg.maxBody} bytes (TransformationPolicy ${this.cfg.name})`);
      return true;
    }
    this.#chunks.push(chunk);
    return true;
  }
  override onceDrain(fn: () => void): void {
    if (this.#headers || this.#failed) queueMicrotask(fn);
    else this.res.onceDrain(fn);
  }
  override end(trailers: ResponseHeaders | undefined): void {
    if (this.#failed) return;
    const head = this.#headers;
    if (!head) return this.res.end(trailers);
    if (this.#xml && !xmlLoaded()) {
      // The XML library loads once, with the first policy that needs it (the filter asked for it then).
      loadXml().then(
        () => this.end(trailers),
        (e: unknown) => this.#fail(`the XML library could not be loaded: ${String(e)}`),
      );
      return;
    }
    const text = Buffer.concat(this.#chunks, this.#n).toString('utf8');
    this.#chunks = [];
    let value: unknown;
    try {
      value = this.#xml ? xmlToJson(text) : JSON.parse(text);
    } catch (e) {
      this.#fail(`the upstream response is not valid ${this.#xml ? 'XML' : 'JSON'}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    value = applyFields(value, this.cfg.resBody, undefined, this.info);
    const body = Buffer.from(JSON.stringify(value) ?? 'null');
    const out: ResponseHeaders = {};
    for (const [k, v] of Object.entries(head)) if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'etag' && k !== 'content-md5') out[k] = v;
    out['content-type'] = 'application/json';
    out['content-length'] = body.length;
    this.#headers = undefined;
    this.res.writeHead(this.#status, out, false);
    this.res.write(body);
    this.res.end(trailers);
  }
  override respondTrailersOnly(headers: ResponseHeaders): void {
    this.#headers = undefined;
    this.res.respondTrailersOnly(headers);
  }
  #fail(message: string): void {
    this.#failed = true;
    this.#headers = undefined;
    this.#chunks = [];
    respondError(this.req, this.res, this.info, 'TRANSFORM_FAILED', message, 502);
  }
}

function transformationFilter(cfg: TransformationConfig): Filter {
  const requestBodyRules = cfg.reqBody.length > 0 || cfg.xmlRoot !== '';
  const responseRules = cfg.resHeaders !== undefined || cfg.resBody.length > 0 || cfg.xmlResponse;
  const responseBodyRules = cfg.resBody.length > 0 || cfg.xmlResponse;
  // A compressed body cannot be edited: the upstream is asked for identity.
  const reqHeaders: Headers | undefined = responseBodyRules ? { remove: new Set([...(cfg.reqHeaders?.remove ?? []), 'accept-encoding']), set: cfg.reqHeaders?.set ?? new Map(), add: cfg.reqHeaders?.add ?? [] } : cfg.reqHeaders;
  // Converting XML needs fast-xml-parser: loaded now, in the background, not by every proxy.
  if (cfg.xmlRoot || cfg.xmlResponse) void loadXml().catch(() => undefined);
  return (next: Handler): Handler =>
    (req, res, info) => {
      // gRPC calls are not HTTP/JSON messages: they pass untouched.
      if (req.grpc) return next(req, res, info);
      const sink = responseRules ? new TransformSink(res, cfg, req, info) : res;
      const search = cfg.query ? editQuery(req.search, cfg.query) : req.search;
      if (!requestBodyRules || !carriesBody(req) || !isJsonType(req.header('content-type'))) {
        if (!reqHeaders && !cfg.query) return next(req, sink, info);
        return next(new TransformedRequest(req, editPairs(req.rawPairs(), reqHeaders, undefined), search, undefined), sink, info);
      }
      (cfg.xmlRoot ? Promise.all([readBounded(req, info, cfg.maxBody), loadXml()]).then(([r]) => r) : readBounded(req, info, cfg.maxBody)).then(
        (r) => {
          if ('tooLarge' in r) {
            res.closeAfterResponse();
            return respondError(req, res, info, 'REQUEST_TOO_LARGE', `the request body is larger than ${cfg.maxBody} bytes (TransformationPolicy ${cfg.name})`);
          }
          let value: unknown;
          try {
            value = JSON.parse(r.body.toString('utf8'));
          } catch (e) {
            return respondError(req, res, info, 'TRANSFORM_FAILED', `the request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
          }
          value = applyFields(value, cfg.reqBody, req, info);
          let body: Buffer;
          let type = 'application/json';
          try {
            if (cfg.xmlRoot) {
              body = Buffer.from(jsonToXml(value, cfg.xmlRoot));
              type = 'application/xml';
            } else body = Buffer.from(JSON.stringify(value) ?? 'null');
          } catch (e) {
            if (!(e instanceof XmlJsonError)) throw e;
            return respondError(req, res, info, 'TRANSFORM_FAILED', e.message);
          }
          const replace = new Map<string, string | undefined>([
            ['content-type', type],
            ['content-length', String(body.length)],
            ['transfer-encoding', undefined],
          ]);
          next(new TransformedRequest(req, editPairs(req.rawPairs(), reqHeaders, replace), search, body), sink, info);
        },
        () => res.abort(),
      );
    };
}

export const transformation: HttpFilterFactory<TransformationConfig, TransformationConfig> = {
  extension: EXTENSIONS.transformation,
  parse: parseTransformation,
  perRoute: { schema: TransformationSchema, parse: parseTransformation },
  create(cfg, perRoute) {
    const c = perRoute ?? cfg;
    return c.empty ? undefined : transformationFilter(c);
  },
};
