// The data plane's bundle builds protobuf descriptors on first use (common/lazy-desc.ts, rewritten
// in by scripts/lazy-descriptors.mjs). Checked here: the stand-in answers its kind and type name
// without building, anything else builds once and is the real descriptor's; and for every generated
// module, rewritten as the bundle rewrites it, importing builds nothing, and each descriptor, once
// used, describes what the module tsc built describes and decodes what it encodes.
import { boot } from '@bufbuild/protobuf/codegenv2';
import { create, fromBinary, toBinary, type DescEnum, type DescField, type DescFile, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isUnbuilt, lazyDesc, realDesc } from '../../../common/lazy-desc.js';
import { ROOT } from '../../harness/processes.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ListenerSchema } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { ClusterSchema } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { DiscoveryRequestSchema } from '../../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { decodeMessage } from '../../../common/wire-decode.js';
import { createMessage, encodeMessage } from '../../../common/wire-encode.js';

const { lazyDescriptorModule } = (await import(join(ROOT, 'scripts/lazy-descriptors.mjs'))) as {
  lazyDescriptorModule: (text: string, exports: Record<string, unknown>, url: string, data: { files: Map<string, string>; at: string }) => string;
};

describe('lazyDesc', () => {
  const make = () => {
    let builds = 0;
    const real = { kind: 'message', typeName: 'a.B', fields: [{ name: 'x' }], toString() { return `message ${this.typeName}`; } };
    const d = lazyDesc(() => (builds++, real), { kind: 'message', typeName: 'a.B' });
    return { d, real, builds: () => builds };
  };

  it('answers its kind and type name without building the descriptor', () => {
    const { d, builds } = make();
    expect([d.kind, d.typeName]).toEqual(['message', 'a.B']);
    expect(builds()).toBe(0);
    expect(isUnbuilt(d)).toBe(true);
  });

  it('builds once on any other use, and then answers as the real descriptor', () => {
    const { d, real, builds } = make();
    expect(d.fields).toBe(real.fields);
    expect(String(d)).toBe('message a.B');
    expect('fields' in d).toBe(true);
    expect(Object.keys(d)).toEqual(Object.keys(real));
    expect({ ...d }).toEqual({ ...real });
    expect(JSON.stringify(d)).toBe(JSON.stringify(real));
    expect(Object.getPrototypeOf(d)).toBe(Object.prototype);
    expect(builds()).toBe(1);
    expect(realDesc(d)).toBe(real);
    expect(isUnbuilt(d)).toBe(false);
  });

  it('realDesc builds an unbuilt one and passes anything else through', () => {
    const { d, real, builds } = make();
    expect(realDesc(d)).toBe(real);
    expect(builds()).toBe(1);
    expect(realDesc(real)).toBe(real);
    expect(realDesc(undefined)).toBeUndefined();
    expect(isUnbuilt(real)).toBe(false);
  });
});

// --- every generated module, rewritten as the bundle does (a mirror of dist/proto/gen inside dist/,
// so that its bare imports resolve to this checkout's node_modules as the originals' do).
const GEN = join(ROOT, 'dist/proto/gen');
const MIRROR = join(ROOT, 'dist', `.lazy-descriptors-test-${process.pid}`);
const DATA = join(MIRROR, 'descriptors.json');
const data = { files: new Map<string, string>(), at: `new URL(${JSON.stringify(pathToFileURL(DATA).href)})` };
afterAll(() => rmSync(MIRROR, { recursive: true, force: true }));
const modules = (function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('_pb.js') ? [join(d, e.name)] : []));
})(GEN);

type Desc = DescFile | DescMessage | DescEnum | DescService | { kind: 'extension'; typeName: string };
const isDesc = (v: unknown): v is Desc => typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';

const fieldShape = (f: DescField) => [f.name, f.number, f.fieldKind, f.localName, f.jsonName, f.presence, f.oneof?.name, f.message?.typeName, f.enum?.typeName, 'packed' in f ? f.packed : undefined];
const enumShape = (e: DescEnum) => [e.typeName, e.values.map((v) => [v.name, v.number])];
const messageShape = (m: DescMessage): unknown => [m.typeName, m.fields.map(fieldShape), m.nestedMessages.map(messageShape), m.nestedEnums.map(enumShape)];
const shape = (d: Desc): unknown => {
  switch (d.kind) {
    case 'file':
      return [d.name, d.messages.map(messageShape), d.enums.map(enumShape), d.services.map((s) => s.typeName), d.extensions.map((x) => x.typeName)];
    case 'message':
      return messageShape(d);
    case 'enum':
      return enumShape(d);
    case 'service':
      return [d.typeName, d.methods.map((m) => [m.name, m.input.typeName, m.output.typeName])];
    default:
      return d.typeName;
  }
};

describe('every generated module, with lazy descriptors', () => {
  const originals = new Map<string, Record<string, unknown>>();
  const lazies = new Map<string, Record<string, unknown>>();

  it('is rewritten for every descriptor it exports, and importing all of them builds none', async () => {
    const url = pathToFileURL(join(ROOT, 'dist/common/lazy-desc.js')).href;
    let rewritten = 0;
    for (const path of modules) {
      const original = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      originals.set(path, original);
      const text = lazyDescriptorModule(readFileSync(path, 'utf8').replace(/^\/\/# sourceMappingURL=.*$/m, ''), original, url, data);
      // The rewrite must be what makes the mirror lazy: every exported descriptor goes through it.
      const descs = Object.entries(original).filter(([, v]) => isDesc(v));
      expect(descs.length, path).toBeGreaterThan(0);
      for (const [name] of descs) expect(text, `${path}: ${name}`).toMatch(new RegExp(`^export const ${name} = /\\*@__PURE__\\*/ __weftLazyDesc\\(`, 'm'));
      const out = join(MIRROR, relative(GEN, path));
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, text);
      rewritten++;
    }
    expect(rewritten).toBe(modules.length);
    // The serialized descriptors left the modules' text for the data file, as the bundle writes it.
    expect(data.files.size).toBe(modules.length);
    for (const path of modules) expect(readFileSync(join(MIRROR, relative(GEN, path)), 'utf8'), path).not.toMatch(/fileDesc\("/);
    writeFileSync(DATA, JSON.stringify(Object.fromEntries(data.files)));
    expect(modules.length).toBeGreaterThan(100);
    for (const path of modules) lazies.set(path, (await import(pathToFileURL(join(MIRROR, relative(GEN, path))).href)) as Record<string, unknown>);
    const built = [...lazies].flatMap(([path, mod]) => Object.entries(mod).filter(([, v]) => isDesc(v) && !isUnbuilt(v)).map(([n]) => `${relative(GEN, path)}: ${n}`));
    expect(built).toEqual([]);
  });

  it('decodes, encodes and creates messages with the wire tables the stand-ins carry, building no descriptor', () => {
    const lazy = (p: string, name: string) => lazies.get(join(GEN, p))![name] as DescMessage;
    const lazyListener = lazy('envoy/config/listener/v3/listener_pb.js', 'ListenerSchema');
    const lazyCluster = lazy('envoy/config/cluster/v3/cluster_pb.js', 'ClusterSchema');
    const lazyRequest = lazy('envoy/service/discovery/v3/discovery_pb.js', 'DiscoveryRequestSchema');
    const listener = create(ListenerSchema, {
      name: 'l',
      address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: 8080 } } } },
      filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager' }], transportSocketConnectTimeout: { seconds: 3n } }],
      perConnectionBufferLimitBytes: 1024,
    });
    const cluster = create(ClusterSchema, { name: 'c', connectTimeout: { seconds: 1n }, metadata: { filterMetadata: { m: { a: [1, 'x', null] } } }, lbPolicy: 2 });
    const request = create(DiscoveryRequestSchema, { typeUrl: 't', node: { id: 'n', metadata: { k: 'v' }, locality: { zone: 'z' } }, errorDetail: { code: 3, message: 'no' } });
    for (const [eager, standIn, m] of [[ListenerSchema, lazyListener, listener], [ClusterSchema, lazyCluster, cluster], [DiscoveryRequestSchema, lazyRequest, request]] as const) {
      const bytes = toBinary(eager as DescMessage, m);
      expect(decodeMessage(standIn, bytes)).toStrictEqual(fromBinary(eager as DescMessage, bytes));
      expect(encodeMessage(standIn, m as never)).toEqual(bytes);
      expect(createMessage(standIn, m as never)).toBe(m);
      expect(isUnbuilt(standIn), standIn.typeName).toBe(true);
    }
    expect(createMessage(lazyRequest, { typeUrl: 't', node: { id: 'n' } })).toStrictEqual(create(DiscoveryRequestSchema, { typeUrl: 't', node: { id: 'n' } }));
    const built = [...lazies].flatMap(([path, mod]) => Object.entries(mod).filter(([, v]) => isDesc(v) && !isUnbuilt(v)).map(([n]) => `${relative(GEN, path)}: ${n}`));
    expect(built).toEqual([]);
  });

  it('names each descriptor as the original does without building it, and once built describes the same', () => {
    expect(lazies.size).toBe(modules.length);
    let n = 0;
    for (const [path, mod] of lazies) {
      const original = originals.get(path)!;
      for (const [name, v] of Object.entries(mod)) {
        if (!isDesc(v)) continue;
        const o = original[name] as Desc;
        expect(v.kind, `${path}: ${name}`).toBe(o.kind);
        if (o.kind !== 'file') expect((v as { typeName: string }).typeName, `${path}: ${name}`).toBe(o.typeName);
        expect(shape(v), `${path}: ${name}`).toEqual(shape(o));
        n++;
      }
    }
    expect(n).toBeGreaterThan(700);
  });

  it('decodes with a lazy schema what the original encodes, and the other way round', () => {
    const lazy = (p: string, name: string) => lazies.get(join(GEN, p))![name] as DescMessage;
    const route = create(RouteConfigurationSchema, {
      name: 'r',
      virtualHosts: [{ name: 'v', domains: ['a.example', '*'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/api' } }, action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: 'c' } } } }] }],
    });
    const lazyRoute = lazy('envoy/config/route/v3/route_pb.js', 'RouteConfigurationSchema');
    expect(fromBinary(lazyRoute, toBinary(RouteConfigurationSchema, route))).toEqual(route);
    const listener = create(ListenerSchema, { name: 'l', address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: 8080 } } } } });
    const lazyListener = lazy('envoy/config/listener/v3/listener_pb.js', 'ListenerSchema');
    expect(fromBinary(ListenerSchema, toBinary(lazyListener, create(lazyListener, listener)))).toEqual(listener);
  });
});

// --- protobuf-es's own google.protobuf modules, which the bundle rewrites too (bundle-sidecar.mjs).
describe('protobuf-es google.protobuf modules, with lazy descriptors', () => {
  const WKT = join(ROOT, 'node_modules/@bufbuild/protobuf/dist/esm/wkt/google/protobuf');
  const wkt = readdirSync(WKT).filter((n) => n.endsWith('_pb.js'));

  it('are rewritten for every descriptor they export; descriptor.proto (booted) builds the same file', async () => {
    expect(wkt).toContain('descriptor_pb.js');
    const url = pathToFileURL(join(ROOT, 'dist/common/lazy-desc.js')).href;
    for (const n of wkt) {
      const path = join(WKT, n);
      const original = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
      const text = lazyDescriptorModule(readFileSync(path, 'utf8'), original, url, { files: new Map(), at: '""' });
      for (const [name] of Object.entries(original).filter(([, v]) => isDesc(v))) {
        expect(text, `${n}: ${name}`).toMatch(new RegExp(`^export const ${name} = /\\*@__PURE__\\*/ __weftLazyDesc\\(`, 'm'));
      }
      if (n === 'descriptor_pb.js') {
        // The stand-in builds with protobuf-es's boot() and the literal the module had.
        const m = /^export const file_google_protobuf_descriptor = \/\*@__PURE__\*\/ __weftLazyDesc\(\(\) => boot\((\{.*\})\), (\{.*\})\);$/m.exec(text);
        expect(m).not.toBeNull();
        const built = boot(JSON.parse(m![1]!) as Parameters<typeof boot>[0]);
        expect(shape(built)).toEqual(shape(original['file_google_protobuf_descriptor'] as Desc));
        expect(JSON.parse(m![2]!)).toEqual({ kind: 'file', name: 'google/protobuf/descriptor' });
      }
    }
  });
});
