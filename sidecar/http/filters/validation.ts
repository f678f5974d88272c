/**
 * weft.filters.http.validation (weft.v1.Validation, a ValidationPolicy): requests are checked
 * against JSON Schemas compiled when the config is applied (common/validation/compile.ts), and
 * refused with 400 VALIDATION_FAILED listing every violation:
 *   {"error":"VALIDATION_FAILED","message":"...","violations":[{"in":"body","pointer":"/name",
 *    "keyword":"type","message":"must be string"}, {"in":"query","name":"limit","pointer":"", ...}]}
 * - with an OpenAPI document, the request's operation (method + path template) is found, its
 *   path, query and header parameters checked (values coerced to the schema's types), and its
 *   JSON body; a request matching no operation is refused unless allow_unknown_operations;
 * - with request_body_schema, every request body (POST, PUT, PATCH must have one);
 * - a body that is validated must be JSON: another content type is 415, unparsable JSON 400, a
 *   body over max_body_bytes 413 (bounded buffering; a request with no body rule streams);
 * - audit_responses: JSON responses are validated as they stream past (a copy up to the bound)
 *   and violations are logged and counted; the response is never changed.
 * The route's config (typed_per_filter_config) replaces the listener's. gRPC calls pass untouched.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import { createLogger } from '../../../common/log.js';
import { ValidationSchema, type Validation } from '../../../proto/gen/weft/v1/validation_pb.js';
import { bodyExpected, checkBody, checkParameters, compileValidation, isJsonType, responseSchema, type CompiledValidation, type Operation, type Violation } from '../../../common/validation/compile.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Problems } from '../../xds/types/decoded.js';
import { ForwardingSink, type Filter, type Handler, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';
import { BufferedRequest, carriesBody, DEFAULT_BODY_BOUND, readBounded } from '../bounded-body.js';
import { respondError, respondErrorJson } from '../respond.js';


const FIELDS = supportedFields({ 'weft.v1.Validation': ['name', 'request_body_schema', 'openapi', 'allow_unknown_operations', 'max_body_bytes', 'audit_responses', 'response_body_schema'] });

/** A Validation, compiled. */
export interface ValidationConfig {
  readonly name: string;
  readonly compiled: CompiledValidation;
  readonly allowUnknown: boolean;
  readonly maxBody: number;
  readonly audit: boolean;
  /** Nothing to check (an empty listener config that only routes override). */
  readonly empty: boolean;
}

/** Counters per policy (they outlive the chains, rebuilt on each update); read by the admin's /metrics. */
export interface ValidationCounters {
  passed: number;
  failed: number;
  responsesAudited: number;
  responseViolations: number;
}
const COUNTERS = new Map<string, ValidationCounters>();

export function validationCounters(): ReadonlyMap<string, ValidationCounters> {
  return COUNTERS;
}

function countersFor(name: string): ValidationCounters {
  let c = COUNTERS.get(name);
  if (!c) COUNTERS.set(name, (c = { passed: 0, failed: 0, responsesAudited: 0, responseViolations: 0 }));
  return c;
}

let log: ReturnType<typeof createLogger> | undefined;
function logger(): ReturnType<typeof createLogger> {
  return (log ??= createLogger('weft-validation'));
}

function parseJsonField(text: string, field: string, p: Problems, path: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    p.add(`${path}.${field}`, `is not JSON text: ${e instanceof Error ? e.message : String(e)}`);
    return undefined;
  }
}

/**
 * Compiled configs by their bytes: a route table is compiled after its RouteConfiguration was
 * checked, and an update often resends a config unchanged; a schema is compiled once.
 */
const COMPILED = new Map<string, ValidationConfig>();
const COMPILED_MAX = 256;

function parseValidation(any: Any, p: Problems, path: string): ValidationConfig | undefined {
  const key = Buffer.from(any.value).toString('base64');
  const hit = COMPILED.get(key);
  if (hit) return hit;
  const cfg = compileConfig(any, p, path);
  if (cfg) {
    if (COMPILED.size >= COMPILED_MAX) COMPILED.delete(COMPILED.keys().next().value!);
    COMPILED.set(key, cfg);
  }
  return cfg;
}

function compileConfig(any: Any, p: Problems, path: string): ValidationConfig | undefined {
  const m = unpackAny(any, ValidationSchema) as Validation | undefined;
  if (!m) {
    p.add(path, 'is not a weft.v1.Validation');
    return undefined;
  }
  checkSupported(ValidationSchema, m, FIELDS, p, path);
  const before = p.errors.length;
  const src = {
    requestBodySchema: parseJsonField(m.requestBodySchema, 'request_body_schema', p, path),
    responseBodySchema: parseJsonField(m.responseBodySchema, 'response_body_schema', p, path),
    openapi: parseJsonField(m.openapi, 'openapi', p, path),
  };
  const problems: { path: string; message: string }[] = [];
  const compiled = compileValidation(src, problems, { requestBodySchema: 'request_body_schema', responseBodySchema: 'response_body_schema', openapi: 'openapi' });
  for (const x of problems) p.add(`${path}.${x.path}`, x.message);
  const empty = src.requestBodySchema === undefined && src.openapi === undefined;
  if (!empty && m.name === '') p.add(`${path}.name`, 'is required');
  if (m.allowUnknownOperations && src.openapi === undefined) p.add(`${path}.allow_unknown_operations`, 'has no effect without openapi');
  if (m.auditResponses && src.responseBodySchema === undefined && src.openapi === undefined) p.add(`${path}.audit_responses`, 'needs response_body_schema or openapi (the schemas responses are audited against)');
  if (!m.auditResponses && src.responseBodySchema !== undefined) p.add(`${path}.response_body_schema`, 'has no effect without audit_responses');
  if (empty && (m.auditResponses || m.maxBodyBytes !== 0n)) p.add(path, 'sets options but no request_body_schema or openapi');
  if (p.errors.length > before) return undefined;
  const maxBody = m.maxBodyBytes === 0n ? DEFAULT_BODY_BOUND : Number(m.maxBodyBytes);
  return { name: m.name, compiled, allowUnknown: m.allowUnknownOperations, maxBody, audit: m.auditResponses, empty };
}

function violationBody(list: readonly Violation[]): Record<string, unknown> {
  return { violations: list };
}

function refuse(req: RequestHead, res: ResponseSink, info: RequestInfo, c: ValidationCounters, list: readonly Violation[]): void {
  c.failed++;
  respondErrorJson(req, res, info, 'VALIDATION_FAILED', `the request is not valid (${list.length} violation${list.length === 1 ? '' : 's'})`, violationBody(list));
}

/**
 * The response sink of an audited request: everything passes through unchanged; a copy of a
 * JSON body (up to the bound) is validated when the response ends.
 */
class AuditSink extends ForwardingSink {
  #schema: ValidateFunction | undefined;
  #chunks: Buffer[] = [];
  #n = 0;
  constructor(
    res: ResponseSink,
    private readonly cfg: ValidationConfig,
    private readonly counters: ValidationCounters,
    private readonly op: Operation | undefined,
    private readonly what: string,
  ) {
    super(res);
  }
  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    const ct = headers['content-type'];
    const schema = this.op ? responseSchema(this.op, status) : this.cfg.compiled.responseBody;
    if (schema && isJsonType(Array.isArray(ct) ? ct[0] : ct === undefined ? undefined : String(ct))) this.#schema = schema;
    this.res.writeHead(status, headers, endStream);
    if (endStream) this.#check();
  }
  override write(chunk: Buffer): boolean {
    if (this.#schema) {
      this.#n += chunk.length;
      if (this.#n > this.cfg.maxBody) {
        this.#schema = undefined;
        this.#chunks = [];
      } else this.#chunks.push(chunk);
    }
    return this.res.write(chunk);
  }
  override end(trailers: ResponseHeaders | undefined): void {
    this.res.end(trailers);
    this.#check();
  }
  #check(): void {
    const schema = this.#schema;
    if (!schema) return;
    this.#schema = undefined;
    this.counters.responsesAudited++;
    const out: Violation[] = [];
    try {
      checkBody(schema, JSON.parse(Buffer.concat(this.#chunks, this.#n).toString('utf8')), out);
    } catch (e) {
      out.push({ in: 'body', pointer: '', keyword: 'json', message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` });
    }
    this.#chunks = [];
    if (out.length === 0) return;
    this.counters.responseViolations++;
    logger().warn({ policy: this.cfg.name, request: this.what, violations: out }, 'response does not match its schema (audit only)');
  }
}

function validationFilter(cfg: ValidationConfig): Filter {
  const counters = countersFor(cfg.name);
  const { openapi, body: policyBody } = cfg.compiled;
  return (next: Handler): Handler =>
    (req, res, info) => {
      // gRPC calls are not HTTP/JSON requests: they pass (the control plane refuses a policy that would only meet them).
      if (req.grpc) return next(req, res, info);
      const violations: Violation[] = [];
      let op: Operation | undefined;
      if (openapi) {
        const m = openapi.match(req.method, req.path);
        if (m) {
          op = m.op;
          checkParameters(m, req.search, req, violations);
        } else if (!cfg.allowUnknown) {
          return refuse(req, res, info, counters, [{ in: 'path', pointer: '', keyword: 'operation', message: `no operation of the API matches ${req.method} ${req.path}` }]);
        }
      }
      const opBody = op?.body;
      const sink = cfg.audit && (op || cfg.compiled.responseBody) ? new AuditSink(res, cfg, counters, op, `${req.method} ${req.path}`) : res;
      if (!opBody && !policyBody) {
        if (violations.length) return refuse(req, res, info, counters, violations);
        counters.passed++;
        return next(req, sink, info);
      }
      if (!carriesBody(req)) {
        if ((policyBody && bodyExpected(req.method)) || opBody?.required) violations.push({ in: 'body', pointer: '', keyword: 'required', message: 'a JSON body is required' });
        if (violations.length) return refuse(req, res, info, counters, violations);
        counters.passed++;
        return next(req, sink, info);
      }
      if (!isJsonType(req.header('content-type'))) {
        counters.failed++;
        return respondErrorJson(req, res, info, 'VALIDATION_FAILED', req.header('content-type') === undefined ? 'the request body must be JSON (application/json); it has no content-type' : `the request body must be JSON (application/json), not ${req.header('content-type')}`, violationBody([...violations, { in: 'header', name: 'content-type', pointer: '', keyword: 'contentType', message: 'must be application/json or */*+json' }]), 415);
      }
      readBounded(req, info, cfg.maxBody).then(
        (r) => {
          if ('tooLarge' in r) {
            counters.failed++;
            res.closeAfterResponse();
            return respondError(req, res, info, 'REQUEST_TOO_LARGE', `the request body is larger than ${cfg.maxBody} bytes (ValidationPolicy ${cfg.name})`);
          }
          let value: unknown;
          try {
            value = JSON.parse(r.body.toString('utf8'));
          } catch (e) {
            violations.push({ in: 'body', pointer: '', keyword: 'json', message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}` });
            return refuse(req, res, info, counters, violations);
          }
          if (opBody) checkBody(opBody.validate, value, violations);
          if (policyBody) checkBody(policyBody.validate, value, violations);
          if (violations.length) return refuse(req, res, info, counters, violations);
          counters.passed++;
          next(new BufferedRequest(req, r.body), sink, info);
        },
        () => res.abort(),
      );
    };
}

export const validation: HttpFilterFactory<ValidationConfig, ValidationConfig> = {
  extension: EXTENSIONS.validation,
  parse: parseValidation,
  perRoute: { schema: ValidationSchema, parse: parseValidation },
  create(cfg, perRoute) {
    const c = perRoute ?? cfg;
    return c.empty ? undefined : validationFilter(c);
  },
};
