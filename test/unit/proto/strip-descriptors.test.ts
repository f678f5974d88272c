// scripts/strip-descriptors.mjs (used by the sidecar's bundle) drops custom option extensions from
// the embedded descriptors and nothing else: for every generated file, the descriptor protobuf-es
// builds from the stripped bytes describes the same messages, fields, oneofs, enums, extensions and
// services, with the same wire and JSON behaviour (kinds, numbers, packing, presence, map entries),
// and a message written with the original schema reads back equal with the stripped one.
import { create, fromBinary, toBinary, type DescEnum, type DescExtension, type DescField, type DescFile, type DescMessage } from '@bufbuild/protobuf';
import { fileDesc } from '@bufbuild/protobuf/codegenv2';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../harness/processes.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';

const { FILE_DESC, stripDescriptorExtensions } = (await import(join(ROOT, 'scripts/strip-descriptors.mjs'))) as { FILE_DESC: string; stripDescriptorExtensions: (b64: string) => string };

const GEN = join(ROOT, 'proto/gen');
const files = (function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('_pb.ts') ? [join(d, e.name)] : []));
})(GEN);

/** Everything protobuf-es's codecs and reflection read from a field. */
const field = (f: DescField | DescExtension) => ({
  name: f.name, number: f.number, kind: f.fieldKind, jsonName: f.jsonName, localName: 'localName' in f ? f.localName : undefined, presence: f.presence,
  oneof: 'oneof' in f ? f.oneof?.name : undefined, packed: 'packed' in f ? f.packed : undefined, delimited: 'delimitedEncoding' in f ? f.delimitedEncoding : undefined, longAsString: 'longAsString' in f ? f.longAsString : undefined,
  scalar: 'scalar' in f ? f.scalar : undefined, message: f.message?.typeName, enum: f.enum?.typeName,
  mapKey: f.fieldKind === 'map' ? f.mapKey : undefined, listKind: f.fieldKind === 'list' ? f.listKind : undefined, mapKind: f.fieldKind === 'map' ? f.mapKind : undefined,
  deprecated: f.deprecated, default: f.fieldKind === 'scalar' || f.fieldKind === 'enum' ? String(f.getDefaultValue()) : undefined,
});
const enumShape = (e: DescEnum) => ({ typeName: e.typeName, open: e.open, sharedPrefix: e.sharedPrefix, values: e.values.map((v) => [v.name, v.number, v.localName]) });
const messageShape = (m: DescMessage): unknown => ({
  typeName: m.typeName, fields: m.fields.map(field), oneofs: m.oneofs.map((o) => [o.name, o.fields.map((f) => f.name)]),
  members: m.members.map((x) => x.name), nested: m.nestedMessages.map(messageShape), enums: m.nestedEnums.map(enumShape),
  extensions: m.nestedExtensions.map((x) => [x.typeName, x.number, x.extendee.typeName]),
});
const fileShape = (f: DescFile) => ({
  name: f.name, messages: f.messages.map(messageShape), enums: f.enums.map(enumShape),
  extensions: f.extensions.map((x) => [x.typeName, x.number, x.extendee.typeName, field(x)]),
  services: f.services.map((s) => [s.typeName, s.methods.map((m) => [m.name, m.methodKind, m.input.typeName, m.output.typeName, m.idempotency])]),
});
/** The descriptor embedded in the generated module at `path`, stripped as the bundle does, built on `original`'s dependencies. */
function stripped(path: string, original: DescFile): DescFile {
  const b64 = new RegExp(FILE_DESC).exec(readFileSync(path, 'utf8'))?.[1];
  expect(b64, path).toBeDefined();
  return fileDesc(stripDescriptorExtensions(b64!), original.dependencies);
}
/** Options of every message and field of a file that still carry unknown (custom) fields. */
function customOptions(f: DescFile): number {
  let n = f.proto.options?.$unknown?.length ? 1 : 0;
  const walk = (m: DescMessage) => {
    if (m.proto.options?.$unknown?.length) n++;
    for (const x of m.fields) if (x.proto.options?.$unknown?.length) n++;
    m.nestedMessages.forEach(walk);
  };
  f.messages.forEach(walk);
  return n;
}

describe('embedded descriptors without custom option extensions', () => {
  it(`describe the same types in all ${files.length} generated files`, async () => {
    let customBefore = 0;
    for (const path of files) {
      const mod = (await import(path)) as Record<string, unknown>;
      const original = Object.values(mod).find((v): v is DescFile => typeof v === 'object' && v !== null && (v as DescFile).kind === 'file');
      expect(original, path).toBeDefined();
      const s = stripped(path, original!);
      expect(fileShape(s), path).toEqual(fileShape(original!));
      expect(customOptions(s), path).toBe(0);
      customBefore += customOptions(original!);
    }
    // The check above has something to check: the Envoy protos do carry custom options.
    expect(customBefore).toBeGreaterThan(100);
  }, 60_000);

  it('a RouteConfiguration (maps, oneofs, enums, wrappers, Any) written with the original schema reads back equal with the stripped one', async () => {
    const { file_envoy_config_route_v3_route } = await import('../../../proto/gen/envoy/config/route/v3/route_pb.js');
    const schema = stripped(join(GEN, 'envoy/config/route/v3/route_pb.ts'), file_envoy_config_route_v3_route).messages.find((m) => m.typeName === 'envoy.config.route.v3.RouteConfiguration')!;
    const rc = create(RouteConfigurationSchema, {
      name: 'r',
      validateClusters: true,
      virtualHosts: [{
        name: 'vh', domains: ['a', 'b'],
        routes: [{ name: 'x', match: { pathSpecifier: { case: 'prefix', value: '/p' }, headers: [{ name: 'h', headerMatchSpecifier: { case: 'presentMatch', value: true } }] }, action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: 'c' }, timeout: { seconds: 3n, nanos: 5 } } } }],
        typedPerFilterConfig: { 'envoy.filters.http.cors': { typeUrl: 'type.googleapis.com/x', value: new Uint8Array([1, 2, 3]) } },
        requireTls: 2,
      }],
      responseHeadersToAdd: [{ header: { key: 'k', value: 'v' }, appendAction: 1 }],
      maxDirectResponseBodySizeBytes: 77,
    });
    const bytes = toBinary(RouteConfigurationSchema, rc);
    const back = fromBinary(schema, bytes);
    expect(toBinary(schema, back)).toEqual(bytes);
    expect(back).toEqual(fromBinary(RouteConfigurationSchema, bytes));
  });
});
