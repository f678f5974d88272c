/**
 * HTTP/JSON → gRPC transcoding, the shape of Envoy's grpc_json_transcoder: a descriptor set
 * (FileDescriptorSet, e.g. from `buf build`) and the services to expose. Everything is compiled
 * once per config: each method's google.api.http rules (and additional_bindings) become path
 * templates; a method without a rule is reachable as `POST /pkg.Service/Method` with a JSON body.
 *
 * Per request: match (HTTP method + path), build the request message from the path variables,
 * the query parameters and the body (`body: "*"` or one field) through the proto3 JSON mapping
 * of @bufbuild/protobuf's dynamic registry, and turn replies (or a gRPC status) back into JSON.
 * Mistakes in the request are TranscodeErrors (HTTP 400) naming the field.
 */
import {
  createFileRegistry,
  fromBinary,
  fromJson,
  getExtension,
  hasExtension,
  toBinary,
  toJson,
  ScalarType,
  type DescField,
  type DescMessage,
  type DescMethod,
  type FileRegistry,
  type JsonObject,
  type JsonValue,
} from '@bufbuild/protobuf';
import { anyUnpack, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { http as httpRuleExt } from '../../proto/gen/google/api/annotations_pb.js';
import type { HttpRule } from '../../proto/gen/google/api/http_pb.js';
import { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';
import { PathTemplate, TemplateError } from './http-template.js';
import { strictFromBinary } from '../wire-strict.js';

export interface TranscoderConfig {
  /** A serialized google.protobuf.FileDescriptorSet with the services and everything they import. */
  descriptorSet: Uint8Array;
  /** Fully qualified services to expose, e.g. `bookstore.Bookstore`. */
  services: readonly string[];
  /** Query parameters that are not fields (e.g. an API key) and are dropped. */
  ignoredQueryParameters?: readonly string[];
  /** `POST /pkg.Service/Method` for methods without an http rule (default true). */
  autoMapping?: boolean;
}

/** A configuration mistake (bad descriptor, unknown service, bad template): rejected at apply time. */
export class TranscoderConfigError extends Error {}

/** A request the transcoder cannot map: answered 400 with this message. */
export class TranscodeError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface Binding {
  readonly method: DescMethod;
  /** `/pkg.Service/Method`: the gRPC path. */
  readonly grpcPath: string;
  readonly httpMethod: string;
  readonly template: PathTemplate;
  /** '' (no body), '*' (the whole request message) or a top-level field name. */
  readonly body: string;
  /** '' (the whole reply) or a top-level field name of the reply. */
  readonly responseBody: string;
  readonly serverStreaming: boolean;
}

export interface Match {
  readonly binding: Binding;
  readonly vars: ReadonlyArray<readonly [readonly string[], string]>;
}

function ruleBindings(rule: HttpRule): Array<{ httpMethod: string; path: string; body: string; responseBody: string }> {
  const p = rule.pattern;
  let verb: string | undefined;
  let path = '';
  switch (p.case) {
    case 'get':
    case 'put':
    case 'post':
    case 'delete':
    case 'patch':
      verb = p.case.toUpperCase();
      path = p.value;
      break;
    case 'custom':
      verb = p.value.kind.toUpperCase();
      path = p.value.path;
      break;
    default:
      verb = undefined;
  }
  const own = verb ? [{ httpMethod: verb, path, body: rule.body, responseBody: rule.responseBody }] : [];
  return [...own, ...rule.additionalBindings.flatMap(ruleBindings)];
}

export class Transcoder {
  readonly registry: FileRegistry;
  readonly bindings: readonly Binding[];
  readonly #ignored: ReadonlySet<string>;
  /** Bindings by HTTP method, most literal segments first. */
  readonly #byMethod = new Map<string, Binding[]>();

  constructor(cfg: TranscoderConfig) {
    let registry: FileRegistry;
    try {
      registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, cfg.descriptorSet));
    } catch (e) {
      throw new TranscoderConfigError(`the descriptor set does not parse: ${(e as Error).message}`);
    }
    this.registry = registry;
    this.#ignored = new Set(cfg.ignoredQueryParameters ?? []);
    if (!cfg.services.length) throw new TranscoderConfigError('no services to expose');
    const bindings: Binding[] = [];
    for (const name of cfg.services) {
      const svc = registry.getService(name);
      if (!svc) {
        const known = [...registry].filter((t) => t.kind === 'service').map((t) => t.typeName);
        throw new TranscoderConfigError(`service ${name} is not in the descriptor set (it has: ${known.join(', ') || 'no services'})`);
      }
      for (const m of svc.methods) {
        const grpcPath = `/${svc.typeName}/${m.name}`;
        const streaming = m.methodKind === 'server_streaming';
        if (m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming') continue;
        const rules = m.proto.options && hasExtension(m.proto.options, httpRuleExt) ? ruleBindings(getExtension(m.proto.options, httpRuleExt)) : [];
        if (!rules.length && cfg.autoMapping !== false) rules.push({ httpMethod: 'POST', path: grpcPath, body: '*', responseBody: '' });
        for (const r of rules) {
          let template: PathTemplate;
          try {
            template = new PathTemplate(r.path);
          } catch (e) {
            throw new TranscoderConfigError(`${m.parent.typeName}.${m.name}: ${(e as TemplateError).message}`);
          }
          if (r.body && r.body !== '*' && !m.input.fields.some((f) => f.name === r.body)) throw new TranscoderConfigError(`${m.parent.typeName}.${m.name}: body '${r.body}' is not a field of ${m.input.typeName}`);
          if (r.responseBody && !m.output.fields.some((f) => f.name === r.responseBody)) throw new TranscoderConfigError(`${m.parent.typeName}.${m.name}: response_body '${r.responseBody}' is not a field of ${m.output.typeName}`);
          for (const v of template.vars) resolveField(m.input, v.path, `${m.parent.typeName}.${m.name} path variable`, TranscoderConfigError);
          bindings.push({ method: m, grpcPath, httpMethod: r.httpMethod, template, body: r.body, responseBody: r.responseBody, serverStreaming: streaming });
        }
      }
    }
    this.bindings = bindings;
    for (const b of bindings) {
      let l = this.#byMethod.get(b.httpMethod);
      if (!l) this.#byMethod.set(b.httpMethod, (l = []));
      l.push(b);
    }
    for (const l of this.#byMethod.values()) l.sort((a, b) => b.template.literals - a.template.literals || a.template.vars.length - b.template.vars.length);
  }

  /** Reverse direction: the primary binding of a gRPC method path (`/pkg.Service/Method`). */
  forGrpcPath(path: string): Binding | undefined {
    return this.bindings.find((b) => b.grpcPath === path);
  }

  /**
   * Reverse direction: the HTTP request for a gRPC request message. Path variables come from
   * their fields; with `body: "*"` the rest of the message is the JSON body, with `body: field`
   * that field is, and the remaining fields become query parameters (nested ones dotted).
   */
  httpRequestFor(b: Binding, message: Uint8Array): { method: string; path: string; body: string | undefined } {
    const input = b.method.input;
    const json = toJson(input, strictFromBinary(input, message), { registry: this.registry, useProtoFieldName: true }) as JsonObject;
    const take = (path: readonly string[]): string | undefined => {
      let o: JsonValue | undefined = json;
      for (let i = 0; i < path.length - 1; i++) o = o && typeof o === 'object' && !Array.isArray(o) ? (o as JsonObject)[path[i]!] : undefined;
      if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
      const leaf = path[path.length - 1]!;
      const v = (o as JsonObject)[leaf];
      delete (o as JsonObject)[leaf];
      return v === undefined || v === null ? undefined : typeof v === 'object' ? JSON.stringify(v) : String(v);
    };
    let path = b.template.expand(take);
    let body: string | undefined;
    if (b.body === '*') body = JSON.stringify(json);
    else {
      if (b.body) {
        body = JSON.stringify(json[b.body] ?? {});
        delete json[b.body];
      }
      const q = new URLSearchParams();
      const flat = (o: JsonObject, prefix: string) => {
        for (const [k, v] of Object.entries(o)) {
          if (v === null) continue;
          if (Array.isArray(v)) for (const x of v) q.append(prefix + k, typeof x === 'object' ? JSON.stringify(x) : String(x));
          else if (typeof v === 'object') flat(v as JsonObject, `${prefix}${k}.`);
          else q.append(prefix + k, String(v));
        }
      };
      flat(json, '');
      if (q.size) path += `?${q}`;
    }
    return { method: b.httpMethod, path, body };
  }

  /** Reverse direction: the gRPC reply message for a successful HTTP/JSON answer. */
  replyFromJson(b: Binding, text: string): Uint8Array {
    const out = b.method.output;
    let json: JsonValue;
    try {
      json = text.trim() ? (JSON.parse(text) as JsonValue) : {};
    } catch (e) {
      throw new TranscodeError(`the service's answer is not JSON: ${(e as Error).message}`, 502);
    }
    if (b.responseBody) {
      const f = out.fields.find((x) => x.name === b.responseBody)!;
      json = { [f.name]: json };
    }
    try {
      return toBinary(out, fromJson(out, json, { registry: this.registry, ignoreUnknownFields: true }));
    } catch (e) {
      throw new TranscodeError(`the service's answer does not fit ${out.typeName}: ${(e as Error).message}`, 502);
    }
  }

  /** The binding for an HTTP request, or undefined (not a transcoded route). */
  match(httpMethod: string, path: string): Match | undefined {
    const l = this.#byMethod.get(httpMethod);
    if (!l) return undefined;
    for (const b of l) {
      const vars = b.template.match(path);
      if (vars) return { binding: b, vars };
    }
    return undefined;
  }

  /** The request message (binary) for a matched request; throws TranscodeError on bad input. */
  requestMessage(m: Match, query: URLSearchParams, body: Buffer): Uint8Array {
    const b = m.binding;
    const input = b.method.input;
    let obj: JsonObject = {};
    if (b.body) {
      let parsed: JsonValue | undefined;
      const text = body.toString('utf8').trim();
      if (text) {
        try {
          parsed = JSON.parse(text) as JsonValue;
        } catch (e) {
          throw new TranscodeError(`the request body is not JSON: ${(e as Error).message}`);
        }
      }
      if (b.body === '*') {
        if (parsed !== undefined && (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))) throw new TranscodeError(`the request body must be a JSON object (${input.typeName})`);
        obj = (parsed as JsonObject | undefined) ?? {};
      } else if (parsed !== undefined) obj[b.body] = parsed;
    } else if (body.length && body.toString('utf8').trim()) {
      throw new TranscodeError(`${b.httpMethod} ${b.template.source} takes no body`);
    }
    for (const [path, value] of m.vars) setField(obj, input, path, value, 'path variable');
    for (const [k, v] of query) {
      if (this.#ignored.has(k)) continue;
      setField(obj, input, k.split('.'), v, 'query parameter');
    }
    try {
      return toBinary(input, fromJson(input, obj, { registry: this.registry, ignoreUnknownFields: false }));
    } catch (e) {
      throw new TranscodeError((e as Error).message.replace(/^\[\w+\] /, ''));
    }
  }

  /** One reply message as JSON text (response_body applied). */
  replyJson(b: Binding, message: Uint8Array): string {
    const out = b.method.output;
    const json = toJson(out, strictFromBinary(out, message), { registry: this.registry }) as JsonObject;
    if (!b.responseBody) return JSON.stringify(json);
    const f = out.fields.find((x) => x.name === b.responseBody)!;
    return JSON.stringify(json[f.jsonName] ?? null);
  }

  /** The JSON error body for a gRPC status (grpc-status-details-bin decoded when present). */
  errorJson(code: number, message: string, detailsBin?: string): string {
    let details: JsonValue[] = [];
    if (detailsBin) {
      try {
        const st = fromBinary(StatusSchema, Buffer.from(detailsBin, 'base64'));
        details = st.details.map((a) => {
          const m = anyUnpack(a, this.registry);
          return m ? ({ '@type': a.typeUrl, ...(toJson(this.registry.getMessage(m.$typeName)!, m, { registry: this.registry }) as JsonObject) } as JsonValue) : { '@type': a.typeUrl };
        });
      } catch {
        details = [];
      }
    }
    return JSON.stringify({ code, message, details });
  }
}

/** HTTP status → gRPC code for the reverse direction (the inverse of the table below where it is one to one). */
export function grpcCodeForHttp(status: number): number {
  const m: Record<number, number> = { 400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 412: 9, 416: 11, 429: 8, 499: 1, 501: 12, 503: 14, 504: 4 };
  return m[status] ?? (status >= 500 ? 13 : status >= 400 ? 9 : 2);
}

/** The standard gRPC → HTTP status mapping (google/rpc/code.proto). */
export function httpStatusForGrpc(code: number): number {
  return [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401][code] ?? 500;
}

function resolveField(msg: DescMessage, path: readonly string[], what: string, E: new (m: string) => Error): DescField {
  let m = msg;
  let f: DescField | undefined;
  for (let i = 0; i < path.length; i++) {
    const n = path[i]!;
    f = m.fields.find((x) => x.name === n || x.jsonName === n);
    if (!f) throw new E(`${what} '${path.join('.')}': ${m.typeName} has no field '${n}'`);
    if (i < path.length - 1) {
      if (f.fieldKind !== 'message') throw new E(`${what} '${path.join('.')}': '${n}' is not a message`);
      m = f.message;
    }
  }
  return f!;
}

/** Puts a path variable's or query parameter's text into the JSON object at a field path. */
function setField(obj: JsonObject, msg: DescMessage, path: readonly string[], text: string, what: string): void {
  const f = resolveField(msg, path, what, TranscodeError);
  let o = obj;
  let m = msg;
  for (let i = 0; i < path.length - 1; i++) {
    const pf = m.fields.find((x) => x.name === path[i] || x.jsonName === path[i])!;
    const cur = o[pf.name] ?? o[pf.jsonName];
    if (cur === undefined || cur === null || typeof cur !== 'object' || Array.isArray(cur)) {
      const next: JsonObject = {};
      delete o[pf.jsonName];
      o[pf.name] = next;
      o = next;
    } else o = cur as JsonObject;
    m = (pf as DescField & { message: DescMessage }).message;
  }
  const value = scalarJson(f, text, `${what} '${path.join('.')}'`);
  if (f.fieldKind === 'list') {
    const cur = o[f.name];
    o[f.name] = Array.isArray(cur) ? [...cur, value] : [value];
  } else o[f.name] = value;
}

function scalarJson(f: DescField, text: string, what: string): JsonValue {
  const kind = f.fieldKind === 'list' ? f.listKind : f.fieldKind;
  if (kind === 'enum') return /^-?\d+$/.test(text) ? Number(text) : text;
  if (kind === 'message') return text; // well-known types with a string JSON form (Timestamp, Duration, wrappers, FieldMask)
  if (kind !== 'scalar') throw new TranscodeError(`${what}: a ${f.fieldKind} field cannot be set from the URL`);
  const t = f.scalar;
  if (t === ScalarType.BOOL) {
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new TranscodeError(`${what}: want true or false, got '${text}'`);
  }
  return text;
}
