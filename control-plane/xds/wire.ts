/**
 * Hand-encoded DiscoveryResponse and DeltaDiscoveryResponse. Each resource's entry (its `Any`,
 * or its delta `Resource` wrapper) is encoded once and reused by every stream and response that
 * carries it, and a SotW stream that wants a whole shared set reuses that set's encoding; only
 * version, nonce, type and removals differ per stream. Protobuf allows fields in any order, so the
 * shared bytes go first and the per-stream fields are appended. A response is one allocation
 * per stream (then gRPC frames it), with no message objects built per push.
 */
import type { Resource, ResourceSet } from './snapshot.js';

const anyCache = new WeakMap<Resource, Buffer>();
const deltaCache = new WeakMap<Resource, Buffer>();
const setCache = new WeakMap<ResourceSet, Buffer>();
/**
 * Set encodings by content (type and version): nodes of different classes get different Snapshot
 * objects whose sets of one type may still be equal (every sidecar sees the same endpoints), and
 * they should share one encoding rather than hold one each. Weak: an encoding lives as long as a
 * set that uses it (`setCache`).
 */
const byVersion = new Map<string, WeakRef<Buffer>>();

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

const anyBody = (r: Resource) => Buffer.concat([field(0x0a, str(r.typeUrl)), field(0x12, r.body)]);

/** `resources` entry (field 2) holding Any{type_url, value} for one resource. */
function encodedAny(r: Resource): Buffer {
  let b = anyCache.get(r);
  if (!b) {
    b = field(0x12, anyBody(r));
    anyCache.set(r, b);
  }
  return b;
}

/** Delta `resources` entry (field 2): Resource{version=1, resource=2 (Any), name=3}. */
function encodedDeltaEntry(r: Resource): Buffer {
  let b = deltaCache.get(r);
  if (!b) {
    b = field(0x12, Buffer.concat([field(0x0a, str(r.version)), field(0x12, anyBody(r)), field(0x1a, str(r.name))]));
    deltaCache.set(r, b);
  }
  return b;
}

/**
 * The encoded `resources` field for a list; cached when the list is a whole shared set, whose
 * snapshot version (`whole.version`, a hash of its content) identifies equal sets.
 */
export function encodedResources(resources: readonly Resource[], whole?: { set: ResourceSet; typeUrl: string; version: string }): Buffer {
  if (!whole) return Buffer.concat(resources.map(encodedAny));
  const hit = setCache.get(whole.set);
  if (hit) return hit;
  const key = `${whole.typeUrl}|${whole.version}`;
  let b = byVersion.get(key)?.deref();
  if (!b) {
    b = Buffer.concat(resources.map(encodedAny));
    if (byVersion.size >= 1024) for (const [k, ref] of byVersion) if (!ref.deref()) byVersion.delete(k);
    byVersion.set(key, new WeakRef(b));
  }
  setCache.set(whole.set, b);
  return b;
}

const CONTROL_PLANE = field(0x32, field(0x0a, str('weft')));

/** A complete DiscoveryResponse (version_info=1, resources=2, type_url=4, nonce=5, control_plane=6). */
export function encodeSotwResponse(resourcesField: Buffer, version: string, typeUrl: string, nonce: string): Buffer {
  return Buffer.concat([resourcesField, field(0x0a, str(version)), field(0x22, str(typeUrl)), field(0x2a, str(nonce)), CONTROL_PLANE]);
}

/**
 * A complete DeltaDiscoveryResponse (system_version_info=1, resources=2, type_url=4, nonce=5,
 * removed_resources=6).
 */
export function encodeDeltaResponse(resources: readonly Resource[], removed: readonly string[], systemVersion: string, typeUrl: string, nonce: string): Buffer {
  const parts = resources.map(encodedDeltaEntry);
  parts.push(field(0x0a, str(systemVersion)), field(0x22, str(typeUrl)), field(0x2a, str(nonce)));
  for (const name of removed) parts.push(field(0x32, str(name)));
  return Buffer.concat(parts);
}
