/**
 * What the xDS server serves: immutable, versioned snapshots of resources per node. Translation
 * produces them; the snapshot cache checks and publishes them; the server streams them. A
 * Resource is encoded once and shared by every snapshot (and node) that contains it.
 */
import { createHash } from 'node:crypto';
import { toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { TYPE_URL, type TypeUrl } from '../../common/xds-types.js';
import type { FieldError } from '../../common/errors.js';

/** A reference from one resource to another (Listener -> RouteConfiguration, Cluster -> CLA ...). */
export interface ResourceRef {
  readonly typeUrl: TypeUrl;
  readonly name: string;
}

/** One xDS resource, encoded. `version` is a content hash: equal bytes, equal version. */
export interface Resource {
  readonly typeUrl: TypeUrl;
  readonly name: string;
  readonly version: string;
  /** The message, for config dumps (JSON) and tests. Never mutated. */
  readonly message: MessageShape<DescMessage>;
  readonly schema: DescMessage;
  /** Binary encoding of `message`, ready to go into an `Any`. */
  readonly body: Uint8Array;
  /** Resources this one needs; the consistency check requires them in the same snapshot. */
  readonly refs: readonly ResourceRef[];
}

/** Encodes a message into a Resource, hashing its bytes for the version. */
export function makeResource<D extends DescMessage>(
  typeUrl: TypeUrl,
  name: string,
  schema: D,
  message: MessageShape<D>,
  refs: readonly ResourceRef[] = [],
): Resource {
  const body = toBinary(schema, message);
  const version = createHash('sha256').update(body).digest('base64url').slice(0, 16);
  return Object.freeze({ typeUrl, name, version, message, schema, body, refs: Object.freeze([...refs]) });
}

export type ResourceSet = ReadonlyMap<string, Resource>;

/** The version of a set of resources: a hash of their names and versions, independent of order. */
export function versionOf(resources: Iterable<Resource>): string {
  const h = createHash('sha256');
  for (const r of [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) h.update(r.name).update('\0').update(r.version).update('\0');
  return h.digest('base64url').slice(0, 16);
}

/**
 * All resources one node may see, by type. `versions` holds one version per type: a hash of that
 * type's resource names and versions, so a type whose resources did not change keeps its version.
 */
export class Snapshot {
  readonly resources: ReadonlyMap<TypeUrl, ResourceSet>;
  readonly versions: ReadonlyMap<TypeUrl, string>;

  constructor(resources: Iterable<Resource>) {
    const byType = new Map<TypeUrl, Map<string, Resource>>();
    for (const t of Object.values(TYPE_URL)) byType.set(t, new Map());
    for (const r of resources) byType.get(r.typeUrl)!.set(r.name, r);
    const versions = new Map<TypeUrl, string>();
    for (const [t, set] of byType) versions.set(t, versionOf(set.values()));
    this.resources = byType;
    this.versions = versions;
    Object.freeze(this);
  }

  get(typeUrl: TypeUrl): ResourceSet {
    return this.resources.get(typeUrl) ?? new Map();
  }

  /** Every dangling reference, as field errors naming the referring resource. Empty = consistent. */
  inconsistencies(): FieldError[] {
    const out: FieldError[] = [];
    for (const set of this.resources.values()) {
      for (const r of set.values()) {
        for (const ref of r.refs) {
          if (!this.resources.get(ref.typeUrl)?.has(ref.name)) {
            out.push({ resource: `${r.typeUrl.split('.').pop()}/${r.name}`, path: 'refs', message: `references missing ${ref.typeUrl.split('.').pop()} '${ref.name}'` });
          }
        }
      }
    }
    return out;
  }
}
