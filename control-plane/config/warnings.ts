/**
 * Warnings: configuration that is valid but names something that does not exist (yet), so it does
 * nothing. An apply, a join token or a sidecar's registration goes ahead; the warning says what
 * is missing and how to fix it (issue 23: a policy or token for a misspelt Service was silent).
 */
import type { MeshModel, MeshResource } from './types.js';

/** One warning per AuthorizationPolicy of `applied` whose spec.service names no Service in its namespace (after the apply). */
export function applyWarnings(applied: readonly MeshResource[], model: MeshModel): string[] {
  const out: string[] = [];
  // The apply's own Services, once (an apply may hold 20,000 resources).
  let appliedServices: Set<string> | undefined;
  for (const r of applied) {
    if (r.kind !== 'AuthorizationPolicy') continue;
    const { service } = r.spec;
    const ns = r.metadata.namespace;
    if (service === '*' || model.resources.has(`Service/${ns}/${service}`)) continue;
    appliedServices ??= new Set(applied.filter((x) => x.kind === 'Service').map((x) => `${x.metadata.namespace}/${x.metadata.name}`));
    if (appliedServices.has(`${ns}/${service}`)) continue;
    out.push(`AuthorizationPolicy/${ns}/${r.metadata.name}: spec.service '${service}' names no Service in namespace '${ns}', so the policy protects nothing; apply Service ${ns}/${service}, or correct spec.service`);
  }
  return out;
}

/**
 * The warning for a workload identity (a join token, a sidecar's --service) naming neither a
 * Service nor a Gateway (a gateway's identity is its Gateway's name) in `namespace`; undefined when one exists.
 */
export function identityWarning(model: MeshModel, what: string, namespace: string, service: string): string | undefined {
  if (model.resources.has(`Service/${namespace}/${service}`) || model.resources.has(`Gateway/${namespace}/${service}`)) return undefined;
  return `${what} names service '${service}' in namespace '${namespace}', but no Service ${namespace}/${service} (nor Gateway) exists: its instances get no traffic until one is applied; check the name and namespace`;
}
