/**
 * Config and translator tests' shared steps: YAML through the real parser and validation into a
 * mesh model, a node, and one resource of a node's snapshot. Shared YAML is in test/fixtures/mesh/.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { formatFieldError, type FieldError } from '../../common/errors.js';
import { parseDocuments, validateApply } from '../../control-plane/config/index.js';
import { buildModel } from '../../control-plane/config/model.js';
import type { MeshModel, MeshResource } from '../../control-plane/config/types.js';
import type { Translator } from '../../control-plane/translate/index.js';
import type { NodeInfo } from '../../control-plane/xds/node.js';
import type { Listener } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { HttpConnectionManagerSchema, type HttpConnectionManager } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { TYPE_URL } from '../../common/xds-types.js';

/** A YAML file under test/fixtures/mesh/. */
export function meshFixture(name: string): string {
  return readFileSync(join(import.meta.dirname, '..', 'fixtures', 'mesh', name), 'utf8');
}

/** What `weft apply` would say of these documents against `model` (empty by default). */
export function applyYaml(yaml: string, model = buildModel(0, [])): { resources: MeshResource[]; errors: FieldError[] } {
  const { docs, errors } = parseDocuments(yaml, 'f.yaml');
  const v = validateApply(docs, model);
  return { resources: v.resources, errors: [...errors, ...v.errors] };
}

/** The model of documents that must validate (throws with every error otherwise). */
export function modelOf(yaml: string): MeshModel {
  const { resources, errors } = applyYaml(yaml);
  if (errors.length) throw new Error(`the mesh does not validate:\n${errors.map(formatFieldError).join('\n')}`);
  return buildModel(1, resources);
}

/** A node of the given role (proxyless by default). */
export const nodeOf = (over: Partial<NodeInfo> = {}): NodeInfo => ({ id: 'n1', cluster: '', role: 'proxyless', namespace: 'default', labels: {}, userAgent: '', ...over });

/** One resource of a node's snapshot, as the translator built it. */
export function message<T>(t: Translator, n: NodeInfo, type: string, name: string): T {
  const r = t.snapshotFor(n).get(type as never).get(name);
  if (!r) throw new Error(`no ${type} ${name}`);
  return r.message as T;
}

/** The HCM of a socket listener (sidecar) or API listener (proxyless). */
export function hcmOf(l: Listener): HttpConnectionManager {
  // The HCM ends the chain (a connection_limit filter may come before it).
  const any = l.apiListener?.apiListener ?? (l.filterChains[0]!.filters.at(-1)!.configType.value as never);
  return anyUnpack(any, HttpConnectionManagerSchema)!;
}

/** The http_filters names of one of a node's listeners, in order. */
export const filterNames = (t: Translator, n: NodeInfo, listener: string): string[] => hcmOf(message<Listener>(t, n, TYPE_URL.listener, listener)).httpFilters.map((f) => f.name);
