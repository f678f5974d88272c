/**
 * Validation of applied documents: each document alone (shape, types, defaults), then the set
 * against the stored configuration (duplicates, references). Every problem is reported with file,
 * document, resource and field path; the caller stores nothing unless the error list is empty.
 */
import { WeftError, formatFieldError, type FieldError } from '../../common/errors.js';
import { Reader } from './schema.js';
import { parseDocumentStream, PARSE_LIMITS, type ParseLimits, type RawDocument } from './parse.js';
import { type BackendRef, type Kind, type MeshModel, type MeshResource, type ResourceKey } from './types.js';
import { KINDS, buildModel, buildModelSteps, resourceKey } from './model.js';
import { kindDefinition, type ReferenceContext } from './kinds/index.js';

/** Where a document came from: file, document index and, once known, the resource. */
export type Where = Omit<FieldError, 'path' | 'message'>;

/**
 * Validates one document on its own. With errors, `resource` is the best-effort partial result
 * (invalid parts left out), so references can still be checked and reported in the same pass; it
 * must never be stored.
 */
export function validateDocument(value: unknown, where: Where): { resource?: MeshResource; errors: FieldError[] } {
  const r = new Reader(where);
  // Which top-level fields are allowed depends on the kind (Secret has type/data instead of spec).
  const kindOf = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as { kind?: unknown }).kind : undefined;
  const topLevel = typeof kindOf === 'string' && KINDS.includes(kindOf as Kind) ? kindDefinition(kindOf as Kind).topLevel : undefined;
  const top = r.obj(value, '', ['apiVersion', 'kind', 'metadata', ...(topLevel ?? ['spec'])], ['apiVersion', 'kind', 'metadata']);
  if (!top) return { errors: r.errors.length ? r.errors : [{ ...where, path: '', message: 'a document must be an object' }] };
  const kind = r.str(top.kind, 'kind', { oneOf: KINDS }) as Kind | undefined;
  const def = kind ? kindDefinition(kind) : undefined;
  const specIn = topLevel ? Object.fromEntries(topLevel.filter((k) => top[k] !== undefined).map((k) => [k, top[k]])) : top.spec;
  const apiVersion = r.str(top.apiVersion, 'apiVersion', { required: true });
  if (def && apiVersion !== undefined && !def.apiVersions.includes(apiVersion)) {
    r.err('apiVersion', `${def.kind} needs apiVersion ${def.apiVersions.join(' or ')}, got '${apiVersion}'`);
  }
  const md = r.obj(top.metadata, 'metadata', ['name', 'namespace', 'labels', 'annotations'], ['name']);
  const name = md ? r.dnsLabel(md.name, 'metadata.name') : undefined;
  let namespace = md?.namespace === undefined ? 'default' : r.dnsLabel(md.namespace, 'metadata.namespace');
  if (def?.singleton !== undefined) {
    if (name !== undefined && name !== def.singleton) r.err('metadata.name', `${def.kind} is a singleton and must be named '${def.singleton}'`);
    namespace = 'default';
  }
  const metadata = { name: name ?? '', namespace: namespace ?? 'default', labels: r.labels(md?.labels, 'metadata.labels'), annotations: r.labels(md?.annotations, 'metadata.annotations') };
  if (kind && name) (r.where as Where).resource = `${kind}/${metadata.namespace}/${name}`;
  if (!def) return { errors: r.errors };
  // `spec:` with nothing after it is null: as absent (it used to drop the document without a word).
  if (def.singleton === undefined && (specIn === undefined || specIn === null)) {
    r.err('spec', 'is required');
    return { errors: r.errors };
  }
  const spec = def.read(r, specIn, metadata.namespace);
  const resource = spec ? ({ apiVersion: apiVersion ?? '', metadata, kind: def.kind, spec } as MeshResource) : undefined;
  if (resource && !r.errors.length) {
    const doc = structuredClone(top) as Record<string, unknown>;
    resource.source = { ...doc, metadata: { ...(doc.metadata as object), namespace: metadata.namespace } };
  }
  return { resource, errors: r.errors };
}

/** Re-validates a resource read back from the store; throws when it no longer validates. */
export function validateStoredResource(value: unknown): MeshResource {
  const { resource, errors } = validateDocument(value, { file: 'store' });
  if (errors.length || !resource) throw new WeftError('STORE_CORRUPT', errors.map(formatFieldError).join('; ') || 'empty resource', { details: errors });
  return resource;
}

/** References every resource in `check` makes, resolved in `model`. */
export function referenceErrors(check: Iterable<MeshResource>, model: MeshModel, where: (r: MeshResource) => Where): FieldError[] {
  const out: FieldError[] = [];
  run(referenceSteps(check, model, where, out));
  return out;
}

/** Runs a step generator (see checkApplySteps) to its end. */
function run<T>(steps: Generator<void, T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Resources between two steps of a step generator: a few milliseconds of work. */
const STEP = 256;

function* referenceSteps(check: Iterable<MeshResource>, model: MeshModel, where: (r: MeshResource) => Where, out: FieldError[]): Generator<void, void> {
  let n = 0;
  let hostOwners: Map<string, Set<string>> | undefined;
  let svcHosts: Map<string, string> | undefined;
  for (const res of check) {
    if (++n % STEP === 0) yield;
    const refs = kindDefinition(res.kind).references;
    if (!refs) continue;
    const w = { ...where(res), resource: resourceKey(res) };
    const err = (path: string, message: string) => void out.push({ ...w, path, message });
    const ctx: ReferenceContext = {
      model,
      err,
      backend: (b: BackendRef, path: string) => {
        const s = model.services.get(`Service/${b.namespace}/${b.name}`);
        if (!s) return err(`${path}.name`, `Service ${b.namespace}/${b.name} does not exist`);
        if (b.port !== undefined && !s.spec.ports.some((p) => p.port === b.port)) err(`${path}.port`, `Service ${b.namespace}/${b.name} has no port ${b.port} (ports: ${s.spec.ports.map((p) => p.port).join(', ')})`);
        if (b.port === undefined && s.spec.ports.length > 1) err(`${path}.port`, `is required: Service ${b.namespace}/${b.name} has several ports`);
        if (b.subset !== undefined) {
          const tp = model.trafficPolicies.get(`Service/${b.namespace}/${b.name}`);
          if (!tp?.spec.subsets.some((x) => x.name === b.subset)) err(`${path}.subset`, `no TrafficPolicy for Service ${b.namespace}/${b.name} defines subset '${b.subset}'`);
        }
      },
      hostnameOwners: () => (hostOwners ??= hostnameOwners(model)),
      serviceHosts: () => (svcHosts ??= serviceHosts(model)),
    };
    refs.call(undefined, res, ctx);
  }
}

/** Field errors listed in one answer at most; the message gives the full count. */
export const MAX_LISTED_ERRORS = 1000;

/** One applied document validated on its own (see validateDocument): plain data, so it can cross a worker boundary. */
export interface ValidatedDocument {
  where: Where;
  /** Best-effort when the document has errors (never stored then). */
  resource: MeshResource;
}

/**
 * The per-document half of an apply: parses every file and validates each document on its own.
 * Pure and independent of the stored configuration, so it can run off the event loop; the
 * document limit (PARSE_LIMITS) covers all files together. With `onDocument`, each validated
 * document goes there as soon as it is ready (and `documents` stays empty).
 */
export function validateFiles(
  files: ReadonlyArray<{ name: string; content: string }>,
  limits: ParseLimits = PARSE_LIMITS,
  onDocument?: (d: ValidatedDocument) => void,
): { documents: ValidatedDocument[]; errors: FieldError[] } {
  const budget = { left: limits.documents };
  const documents: ValidatedDocument[] = [];
  const sink = onDocument ?? ((d: ValidatedDocument) => documents.push(d));
  const errors: FieldError[] = [];
  for (const f of files) {
    parseDocumentStream(f.content, f.name, (d) => {
      const where: Where = { file: d.file, document: d.index };
      const v = validateDocument(d.value, where);
      for (const e of v.errors) errors.push(e);
      if (v.resource) sink({ where, resource: v.resource });
    }, errors, budget, limits);
  }
  return { documents, errors };
}

/** Route hostname -> the Services (ns/name) whose routes claim it. */
function hostnameOwners(model: MeshModel): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const list of [model.httpRoutes, model.grpcRoutes]) {
    for (const r of list) {
      if (!r.spec.parentRefs.some((p) => p.kind === 'Service')) continue;
      for (const h of r.spec.hostnames) {
        let s = out.get(h);
        if (!s) out.set(h, (s = new Set()));
        for (const p of r.spec.parentRefs) if (p.kind === 'Service') s.add(`${p.namespace}/${p.name}`);
      }
    }
  }
  return out;
}

/** Every mesh service's own host forms (name, name.ns, name.ns.svc) -> the Service (ns/name). */
function serviceHosts(model: MeshModel): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of model.services.values()) {
    const { name, namespace } = s.metadata;
    const key = `${namespace}/${name}`;
    for (const h of [name, `${name}.${namespace}`, `${name}.${namespace}.svc`]) if (!out.has(h)) out.set(h, key);
  }
  return out;
}

/** Validates applied documents against the stored model. Store only when `errors` is empty. */
export function validateApply(docs: readonly RawDocument[], existing: MeshModel): { resources: MeshResource[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const documents: ValidatedDocument[] = [];
  for (const d of docs) {
    const where: Where = { file: d.file, document: d.index };
    const v = validateDocument(d.value, where);
    for (const e of v.errors) errors.push(e);
    if (v.resource) documents.push({ where, resource: v.resource });
  }
  const set = checkApply(documents, existing);
  return { resources: set.resources, errors: [...errors, ...set.errors] };
}

/**
 * The set half of an apply: duplicates within it, one TrafficPolicy per service, and references,
 * of the applied resources and of stored ones an applied change could break. Linear in the
 * stored plus applied resources.
 */
export function checkApply(documents: readonly ValidatedDocument[], existing: MeshModel): { resources: MeshResource[]; errors: FieldError[] } {
  return run(checkApplySteps(documents, existing));
}

/**
 * checkApply as steps: yields every few hundred resources so that a caller on the event loop can
 * run it in slices (a 20,000-document apply is hundreds of milliseconds of work).
 */
export function* checkApplySteps(documents: readonly ValidatedDocument[], existing: MeshModel): Generator<void, { resources: MeshResource[]; errors: FieldError[] }> {
  const errors: FieldError[] = [];
  const resources: MeshResource[] = [];
  const whereOf = new Map<ResourceKey, Where>();
  let n = 0;
  for (const { where, resource } of documents) {
    if (++n % STEP === 0) yield;
    const key = resourceKey(resource);
    const first = whereOf.get(key);
    if (first) {
      errors.push({ ...where, resource: key, path: 'metadata.name', message: `${key} appears twice in this apply (first in ${first.file}#${first.document})` });
      continue;
    }
    whereOf.set(key, where);
    resources.push(resource);
  }
  const overlay = new Map(existing.resources);
  for (const r of resources) {
    if (++n % STEP === 0) yield;
    overlay.set(resourceKey(r), r);
  }
  const model = yield* buildModelSteps(existing.revision, overlay.values());
  // Kinds allowed once per target (one TrafficPolicy per service).
  const byTarget = new Map<string, ResourceKey>();
  for (const [key, r] of overlay) {
    if (++n % STEP === 0) yield;
    const one = kindDefinition(r.kind).onePer;
    if (!one) continue;
    const t = one.target(r);
    const other = byTarget.get(`${r.kind}|${t}`);
    if (other && whereOf.has(key)) errors.push({ ...whereOf.get(key)!, resource: key, path: one.path, message: `${t} already has ${r.kind} ${other}` });
    else if (other && whereOf.has(other)) errors.push({ ...whereOf.get(other)!, resource: other, path: one.path, message: `${t} already has ${r.kind} ${key}` });
    byTarget.set(`${r.kind}|${t}`, key);
  }
  // References of the applied resources, and of stored ones an applied change could break.
  yield* referenceSteps(resources, model, (r) => whereOf.get(resourceKey(r)) ?? {}, errors);
  const others: MeshResource[] = [];
  for (const [key, r] of model.resources) {
    if (++n % STEP === 0) yield;
    if (!whereOf.has(key)) others.push(r);
  }
  const broken: FieldError[] = [];
  yield* referenceSteps(others, model, () => ({ file: 'stored' }), broken);
  for (const e of broken) errors.push({ ...e, message: `${e.message} (after this apply)` });
  return { resources, errors };
}

/** What deleting `keys` would break: each referrer and field left dangling. */
export function checkDelete(keys: readonly ResourceKey[], model: MeshModel): FieldError[] {
  const gone = new Set(keys);
  const rest = buildModel(model.revision, [...model.resources.values()].filter((r) => !gone.has(resourceKey(r))));
  return referenceErrors(rest.resources.values(), rest, () => ({})).map((e) => ({ ...e, message: `${e.message}: ${e.resource} still references it` }));
}
