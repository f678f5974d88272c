/**
 * ValidationPolicy (weft.dev/v1alpha1, namespaced): requests checked against JSON Schemas before
 * they reach the upstream (weft.filters.http.validation; translate/filters/validation.ts). It
 * applies to the HTTPRoute / GRPCRoute rules that name it in an ExtensionRef, and to the
 * Gateways, listeners and Services (their sidecars' inbound listener) its `spec.targetRefs` name.
 *
 * Schemas are compiled here, at apply time, with the compiler the proxy uses
 * (common/validation/compile.ts): a schema that does not compile, a `$ref` that does not
 * resolve, an unknown keyword or format is refused with its field path.
 */
import type { ValidationPolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import { compileValidation, loadValidation } from '../../../common/validation/compile.js';
import type { KindDefinition } from './kind.js';
import { httpServiceTargets, readTargetRefs, targetRefReferences } from './policy-attachment.js';

// The control plane compiles every ValidationPolicy when it is applied (synchronously, in
// validate), so Ajv is loaded with this module; only sidecars load it on demand.
await loadValidation();

/** The largest body bound a policy may ask for (the proxy holds the body in memory). */
export const MAX_BODY_BOUND = 64 * 1024 * 1024;

export function readValidationPolicy(r: Reader, v: unknown): ValidationPolicySpec | undefined {
  const o = r.obj(v, 'spec', ['requestBodySchema', 'openapi', 'unknownOperations', 'maxBodyBytes', 'auditResponses', 'responseBodySchema', 'targetRefs']);
  if (!o) {
    r.err('spec', 'needs requestBodySchema or openapi');
    return undefined;
  }
  const present = (x: unknown): boolean => x !== undefined && x !== null;
  if (!present(o.requestBodySchema) && !present(o.openapi)) r.err('spec', 'needs requestBodySchema or openapi (the schemas requests are validated against)');
  const unknownOperations = (r.str(o.unknownOperations, 'spec.unknownOperations', { oneOf: ['Reject', 'Allow'] }) ?? 'Reject') as 'Reject' | 'Allow';
  if (present(o.unknownOperations) && !present(o.openapi)) r.err('spec.unknownOperations', 'has no effect without spec.openapi');
  const maxBodyBytes = present(o.maxBodyBytes) ? r.int(o.maxBodyBytes, 'spec.maxBodyBytes', 1, MAX_BODY_BOUND) : undefined;
  const auditResponses = r.bool(o.auditResponses, 'spec.auditResponses') ?? false;
  if (auditResponses && !present(o.responseBodySchema) && !present(o.openapi)) r.err('spec.auditResponses', 'needs spec.responseBodySchema or spec.openapi (the schemas responses are audited against)');
  if (!auditResponses && present(o.responseBodySchema)) r.err('spec.responseBodySchema', 'has no effect without spec.auditResponses: true');
  const problems: { path: string; message: string }[] = [];
  compileValidation(
    { ...(present(o.requestBodySchema) ? { requestBodySchema: o.requestBodySchema } : {}), ...(present(o.responseBodySchema) ? { responseBodySchema: o.responseBodySchema } : {}), ...(present(o.openapi) ? { openapi: o.openapi } : {}) },
    problems,
    { requestBodySchema: 'spec.requestBodySchema', responseBodySchema: 'spec.responseBodySchema', openapi: 'spec.openapi' },
  );
  for (const x of problems) r.err(x.path, x.message);
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false, services: true });
  const spec: ValidationPolicySpec = { unknownOperations, auditResponses, targetRefs };
  if (present(o.requestBodySchema)) spec.requestBodySchema = o.requestBodySchema;
  if (present(o.openapi)) spec.openapi = o.openapi;
  if (present(o.responseBodySchema)) spec.responseBodySchema = o.responseBodySchema;
  if (maxBodyBytes !== undefined) spec.maxBodyBytes = maxBodyBytes;
  return spec;
}

export const validationPolicyKind: KindDefinition<'ValidationPolicy'> = {
  kind: 'ValidationPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'validationpolicies',
  shortNames: [],
  read: (r, spec) => readValidationPolicy(r, spec),
  references(res, ctx) {
    targetRefReferences(res, ctx.model.validationPolicies.values(), ctx);
    httpServiceTargets(res, ctx);
  },
  addToModel: (b, res) => void b.validationPolicies.set(`ValidationPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const s = res.spec;
    const what = [s.requestBodySchema !== undefined ? 'body schema' : '', s.openapi !== undefined ? 'openapi' : '', s.auditResponses ? 'response audit' : ''].filter(Boolean);
    const targets = s.targetRefs.map((t) => (t.sectionName ? `${t.name}/${t.sectionName}` : `${t.kind === 'Service' ? 'svc/' : ''}${t.name}`));
    return `${what.join(', ')}${targets.length ? `; targets ${targets.join(', ')}` : ''}`;
  },
};
