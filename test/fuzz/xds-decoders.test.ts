// Fuzz: generated and mutated xDS resources against the sidecar's decoders (issue 16). Every input
// must end in a decode result (NACK with errors, or accepted), never a throw; and what a decoder
// accepts must build into the sidecar's runtime structures (route table, upstream cluster,
// endpoints) without throwing either, since the sidecar applies it right after the ACK.
// Seeds: every resource the translator emits for the every-feature mesh.
import fc from 'fast-check';
import { breathing } from '../harness/breathe.js';
import { fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ResourceKind } from '../../common/xds-types.js';
import { xdsTypeRegistry } from '../../control-plane/xds/type-registry.js';
import { decodeResource } from '../../sidecar/xds/types/index.js';
import { HTTP_FILTERS, routePerFilter } from '../../sidecar/http/filters/index.js';
import { compose, type FilterSpec } from '../../sidecar/http/filter.js';
import { packExtension } from '../../common/extensions.js';
import { Problems } from '../../sidecar/xds/types/decoded.js';
import type { XdsListener } from '../../sidecar/xds/types/listener.js';
import { selectChain } from '../../sidecar/tcp/tcp-listener.js';

/** WEFT_FUZZ_SCALE=10 runs every property ten times as long (a local search; CI runs 1). */
const SCALE = Number(process.env.WEFT_FUZZ_SCALE ?? 1);

/** Every filter the sidecar has, with an empty listener config (what a route may override). */
const CHAIN_FILTERS: FilterSpec[] = HTTP_FILTERS.flatMap((f) => {
  const config = f.parse(packExtension(f.extension), new Problems('fuzz'), '');
  return config === undefined ? [] : [{ name: f.extension.name, factory: f, config }];
});
import { RouteTable } from '../../sidecar/routing/route-table.js';
import { UpstreamCluster } from '../../sidecar/upstream/cluster.js';
import { ClusterSchema, type Cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ClusterLoadAssignmentSchema } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { HeldEndpoints } from '../../sidecar/xds/types/endpoint.js';
import type { HeldCluster } from '../../sidecar/xds/types/cluster.js';
import { SecretSchema } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { everyFeatureResources } from '../harness/every-feature.js';

const SCHEMA: Record<ResourceKind, DescMessage> = { listener: ListenerSchema, route: RouteConfigurationSchema, cluster: ClusterSchema, endpoint: ClusterLoadAssignmentSchema, secret: SecretSchema };

interface Seed {
  kind: ResourceKind;
  body: Uint8Array;
  /** Its proto3 JSON and every path in it (for field-level mutations), computed once. */
  json: JsonValue;
  paths: Array<Array<string | number>>;
}
let seeds: Seed[] = [];
let baseCluster: Cluster;

beforeAll(async () => {
  const seen = new Set<string>();
  for (const e of await everyFeatureResources()) {
    const key = Buffer.from(e.resource.body).toString('base64');
    if (seen.has(key)) continue;
    seen.add(key);
    const schema = SCHEMA[e.kind];
    const json = toJson(schema, fromBinary(schema, e.resource.body), { registry: xdsTypeRegistry }) as JsonValue;
    seeds.push({ kind: e.kind, body: e.resource.body, json, paths: paths(json) });
  }
  const c = seeds.find((s) => s.kind === 'cluster')!;
  baseCluster = fromBinary(ClusterSchema, c.body);
}, 60_000);

/** What the sidecar does with an accepted resource right after the ACK: must not throw either. */
function apply(kind: ResourceKind, value: unknown): void {
  if (kind === 'route') {
    // The table, and a chain per route that overrides a filter, as the runtime composes them.
    const t = new RouteTable(value as RouteConfiguration, routePerFilter);
    for (const r of t.routes()) if (r.perFilter) compose(CHAIN_FILTERS, () => undefined, { listener: 'fuzz' }, (s) => r.perFilter!.get(s.name));
  } else if (kind === 'listener') {
    const l = value as XdsListener;
    if (l.kind === 'http') compose(l.filters, () => undefined, { listener: 'fuzz' });
    else {
      // A layer-4 listener: what a connection runs (the SNI choice, network RBAC) must not throw.
      selectChain(l.chains, 'a.example');
      for (const c of l.chains) c.rbac?.evaluate({ method: '', path: '', header: () => undefined, principal: 'spiffe://td/ns/default/sa/web' });
    }
  }
  else if (kind === 'cluster') new UpstreamCluster((value as HeldCluster).cluster).close();
  else if (kind === 'endpoint') {
    const c = new UpstreamCluster(baseCluster);
    c.setEndpoints((value as HeldEndpoints).cla);
    c.close();
  }
}

/** Decodes, and applies what is accepted; returns whether it was accepted. Throws only on a bug. */
function run(kind: ResourceKind, bytes: Uint8Array): boolean {
  const d = decodeResource(kind, bytes, 'fuzz');
  expect(Array.isArray(d.errors)).toBe(true);
  if (d.errors.length) {
    for (const e of d.errors) expect(typeof e.path === 'string' && e.message.length > 0).toBe(true);
    expect(d.value).toBeUndefined();
    return false;
  }
  apply(kind, d.value);
  return true;
}

const mutation = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(body: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Buffer.from(body);
  for (const m of ms) {
    if (b.length === 0) break;
    const at = m.at % b.length;
    if (m.op === 'flip') b[at] = b[at]! ^ (1 << m.bit);
    else if (m.op === 'set') b[at] = m.byte;
    else if (m.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else if (m.op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
    else b = b.subarray(0, at);
  }
  return new Uint8Array(b);
}

/** Every path to a value in a JSON tree. */
function paths(v: JsonValue, at: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (k !== '@type') paths(x as JsonValue, [...at, k], out);
  return out;
}

function setAt(root: JsonValue, p: Array<string | number>, value: JsonValue): JsonValue {
  if (p.length === 0) return value;
  let o = root as Record<string | number, JsonValue>;
  for (let i = 0; i < p.length - 1; i++) o = o[p[i]!] as Record<string | number, JsonValue>;
  o[p.at(-1)!] = value;
  return root;
}

const jsonLeaf: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.integer({ min: -5, max: 70000 }),
  fc.constantFrom(0, -1, 4294967296, 1e21, '0s', '-1s', '0.000000001s', '315576000000s', '', '*', '/', '(', '^$', 'TLSv1_3', 'REJECT_REQUEST', 'h2c', true, false, null),
  fc.string({ maxLength: 12 }),
  fc.constant<JsonValue>({}),
  fc.constant<JsonValue>([]),
);

describe('xDS decoders under generated and mutated resources', () => {
  it('byte-level mutations of real resources: a NACK or an applied resource, never a throw (5,000 runs)', async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 6 }), breathing((i, ms) => {
        const s = seeds[i % seeds.length]!;
        if (run(s.kind, mutate(s.body, ms))) accepted++;
      })),
      { numRuns: 5000 * SCALE },
    );
    // Not all mutations are fatal: some change a value the decoder must then check and apply.
    expect(accepted).toBeGreaterThan(0);
  });

  it('field-level mutations (any field of any resource set to an odd value): a NACK or an applied resource (1,500 runs)', async () => {
    let encodable = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), jsonLeaf, breathing((i, j, value) => {
        const s = seeds[i % seeds.length]!;
        const schema = SCHEMA[s.kind];
        const edited = setAt(structuredClone(s.json), s.paths[j % s.paths.length]!, value);
        let bytes: Uint8Array;
        try {
          bytes = toBinary(schema, fromJson(schema, edited, { registry: xdsTypeRegistry }) as never);
        } catch {
          return; // not a message of this type at all (the JSON mapping refuses it)
        }
        encodable++;
        run(s.kind, bytes);
      })),
      { numRuns: 1500 * SCALE },
    );
    // Most odd values do not fit the field's type; enough do for the decoders to be exercised.
    expect(encodable).toBeGreaterThan(250);
  }, 180_000);

  it('random bytes under every type URL: a NACK, never a throw (2,000 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom<ResourceKind>('listener', 'route', 'cluster', 'endpoint', 'secret'), fc.uint8Array({ maxLength: 200 }), breathing((kind, bytes) => {
        run(kind, bytes);
      })),
      { numRuns: 2000 * SCALE },
    );
  });
});
