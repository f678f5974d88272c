/**
 * What `weft consumer` and `weft key` share: reading a Consumer with the configuration revision
 * it was read at, and writing it back only if nothing changed in between (the admin API's
 * `ifRevision`), retried a few times when another apply landed first.
 */
import { WeftError, isWeftError } from '../../common/errors.js';
import type { ApplyResult } from '../control-plane.js';
import type { ConsumerResource } from '../config/types.js';
import type { AdminClient } from './context.js';

/** The Consumer `ns/name` and the revision it was read at (resource undefined: none). */
export async function readConsumer(client: AdminClient, ns: string, name: string): Promise<{ revision: number; resource: ConsumerResource | undefined }> {
  const q = new URLSearchParams({ kind: 'Consumer', namespace: ns, name });
  const r = await client.request<{ revision: number; items: ConsumerResource[] }>('GET', `/v1/resources?${q}`);
  return { revision: r.revision, resource: r.items[0] };
}

/** The Consumer as an apply document (what the store holds, as the user would write it). */
export function consumerDocument(res: Pick<ConsumerResource, 'metadata' | 'spec'>): Record<string, unknown> {
  const { plan, keys, jwtSubjects } = res.spec;
  const spec: Record<string, unknown> = {};
  if (plan) spec.plan = plan;
  if (keys.length) spec.keys = keys;
  if (jwtSubjects.length) spec.jwtSubjects = jwtSubjects;
  const m = res.metadata;
  const metadata: Record<string, unknown> = { name: m.name, namespace: m.namespace };
  if (m.labels && Object.keys(m.labels).length) metadata.labels = m.labels;
  if (m.annotations && Object.keys(m.annotations).length) metadata.annotations = m.annotations;
  return { apiVersion: 'weft.dev/v1alpha1', kind: 'Consumer', metadata, spec };
}

const ATTEMPTS = 5;

/**
 * Read-modify-write of one Consumer: `change` gets the stored resource (undefined when there is
 * none) and returns the document to apply; the apply is refused (CONFIG_CONFLICT) if the
 * configuration moved since the read, and then the whole step runs again.
 */
export async function updateConsumer(client: AdminClient, ns: string, name: string, change: (current: ConsumerResource | undefined) => Record<string, unknown>, what: string): Promise<ApplyResult> {
  for (let attempt = 1; ; attempt++) {
    const { revision, resource } = await readConsumer(client, ns, name);
    const doc = change(resource);
    try {
      return await client.request<ApplyResult>('POST', `/v1/apply?ifRevision=${revision}`, { files: [{ name: what, content: JSON.stringify(doc) }] });
    } catch (e) {
      if (!isWeftError(e) || e.code !== 'CONFIG_CONFLICT' || attempt >= ATTEMPTS) throw e;
    }
  }
}

export function notFound(ns: string, name: string): WeftError {
  return new WeftError('CONFIG_NOT_FOUND', `Consumer ${ns}/${name} does not exist (create it with \`weft consumer create ${name}\`)`);
}
