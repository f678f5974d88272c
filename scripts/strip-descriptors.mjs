// Drops custom option extensions from an embedded descriptor (the base64 FileDescriptorProto that
// protoc-gen-es puts in each generated module's fileDesc() call). Used by bundle-sidecar.mjs for
// the data plane's bundle; test/unit/proto/strip-descriptors.test.ts checks that every generated
// file describes the same messages, fields, enums and services afterwards.
//
// protobuf-es decodes option messages without a registry, so custom options (protoc-gen-validate
// rules, udpa/envoy/xds annotations) sit on them as unknown fields: views into the decoded bytes,
// kept for the life of the process. Standard options (map_entry, packed, deprecated, ...) are
// fields of the option messages and stay; an option message left with nothing set is dropped.
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileOptionsSchema, MessageOptionsSchema, FieldOptionsSchema, OneofOptionsSchema, EnumOptionsSchema, EnumValueOptionsSchema, ServiceOptionsSchema, MethodOptionsSchema, ExtensionRangeOptionsSchema } from '@bufbuild/protobuf/wkt';
import { base64Decode, base64Encode } from '@bufbuild/protobuf/wire';

/** The embedded descriptor in a generated module's source: `fileDesc("BASE64"`, group 1 the base64. */
export const FILE_DESC = String.raw`\bfileDesc\("([A-Za-z0-9+/=]+)"`;

/** One embedded descriptor (base64 FileDescriptorProto) without the custom extensions in its options. */
export function stripDescriptorExtensions(b64) {
  const file = fromBinary(FileDescriptorProtoSchema, base64Decode(b64));
  const clean = (holder, schema) => {
    const o = holder.options;
    if (!o) return;
    delete o.$unknown;
    if (toBinary(schema, o).length === 0) holder.options = undefined;
  };
  const message = (m) => {
    clean(m, MessageOptionsSchema);
    for (const f of m.field) clean(f, FieldOptionsSchema);
    for (const f of m.extension) clean(f, FieldOptionsSchema);
    for (const o of m.oneofDecl) clean(o, OneofOptionsSchema);
    for (const r of m.extensionRange) clean(r, ExtensionRangeOptionsSchema);
    m.nestedType.forEach(message);
    m.enumType.forEach(enumType);
  };
  const enumType = (e) => {
    clean(e, EnumOptionsSchema);
    for (const v of e.value) clean(v, EnumValueOptionsSchema);
  };
  clean(file, FileOptionsSchema);
  file.messageType.forEach(message);
  file.enumType.forEach(enumType);
  for (const f of file.extension) clean(f, FieldOptionsSchema);
  for (const svc of file.service) {
    clean(svc, ServiceOptionsSchema);
    for (const m of svc.method) clean(m, MethodOptionsSchema);
  }
  return base64Encode(toBinary(FileDescriptorProtoSchema, file), 'std');
}

