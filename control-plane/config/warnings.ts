/**
 * Warnings: configuration that is valid but names something that does not exist (yet), so it does
 * nothing. An apply, a join token or a sidecar's registration goes ahead; the warning says what
 * is missing and how to fix it (issue 23: a policy or token for a misspelt Service was silent).
 */
import type { MeshModel, MeshResource } from './types.js';

/** Does the model (plus `applied`, when given) hold `kind` `namespace/name`? */
function holds(model: MeshModel, applied: readonly MeshResource[], kind: string, namespace: string, name: string): boolean {
  return model.resources.has(`${kind}/${namespace}/${name}`) || applied.some((r) => r.kind === kind && r.metadata.namespace === namespace && r.metadata.name === name);
}

/** One warning per AuthorizationPolicy of `applied` whose spec.service names no Service in its namespace (after the apply). */
export function applyWarnings(applied: readonly MeshResource[], model: MeshModel): string[] {
  const out: string[] = [];
  for (const r of applied) {
    if (r.kind !== 'AuthorizationPolicy') continue;
    const { service } = r.spec;
    const ns = r.metadata.namespace;
    if (service === '*' || holds(model, applied, 'Service', ns, service)) continue;
    out.push(`AuthorizationPolicy/${ns}/${r.metadata.name}: spec.service '${service}' names no Service in namespace '${ns}', so the policy protects nothing; apply Service ${ns}/${service}, or correct spec.service`);
  }
  return out;
}

/**
 * The warning for a workload identity (a join token, a sidecar's --service) naming neither a
 * Service nor a Gateway (a gateway's identity is its Gateway's name) in `namespace`; undefined when one exists.
 */
export function identityWarning(model: MeshModel, what: string, namespace: string, service: string): string | undefined {
  if (holds(model, [], 'Service', namespace, service) || holds(model, [], 'Gateway', namespace, service)) return undefined;
  return `${what} names service '${service}' in namespace '${namespace}', but no Service ${namespace}/${service} (nor Gateway) exists: its instances get no traffic until one is applied; check the name and namespace`;
}
