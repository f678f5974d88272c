/**
 * Hand-encoded DiscoveryResponse for state-of-the-world pushes. Nodes of the same class share the
 * same resource set, so its encoding (the repeated `resources` field) is built once and reused by
 * every stream; only version, nonce and type differ per stream. Protobuf allows fields in any
 * order, so the shared bytes go first and the per-stream fields are appended.
 */
import type { Resource, ResourceSet } from './snapshot.js';

const anyCache = new WeakMap<Resource, Buffer>();
const setCache = new WeakMap<ResourceSet, Buffer>();

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

function field(tag: number, bytes: Buffer | Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), varint(bytes.length), bytes]);
}

const str = (s: string) => Buffer.from(s, 'utf8');

/** `resources` entry (field 2) holding Any{type_url, value} for one resource. */
function encodedAny(r: Resource): Buffer {
  let b = anyCache.get(r);
  if (!b) {
    b = field(0x12, Buffer.concat([field(0x0a, str(r.typeUrl)), field(0x12, r.body)]));
    anyCache.set(r, b);
  }
  return b;
}

/** The encoded `resources` field for a list; cached when the list is a whole shared set. */
export function encodedResources(resources: readonly Resource[], wholeSet?: ResourceSet): Buffer {
  if (wholeSet) {
    const hit = setCache.get(wholeSet);
    if (hit) return hit;
  }
  const b = Buffer.concat(resources.map(encodedAny));
  if (wholeSet) setCache.set(wholeSet, b);
  return b;
}

const CONTROL_PLANE = field(0x32, field(0x0a, str('weft')));

/** A complete DiscoveryResponse (version_info=1, resources=2, type_url=4, nonce=5, control_plane=6). */
export function encodeSotwResponse(resourcesField: Buffer, version: string, typeUrl: string, nonce: string): Buffer {
  return Buffer.concat([resourcesField, field(0x0a, str(version)), field(0x22, str(typeUrl)), field(0x2a, str(nonce)), CONTROL_PLANE]);
}
