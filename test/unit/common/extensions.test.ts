// The one list of extensions Weft emits (common/extensions.ts) and what decoders ask of it.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS, EXTENSION_LIST, isExtensionConfig, isKnownExtension, packExtension, schemaByTypeUrl, typedExtension, typeUrlOf } from '../../../common/extensions.js';
import { xdsTypeRegistry } from '../../../control-plane/xds/type-registry.js';
import { GrpcJsonTranscoderSchema } from '../../../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';

describe('extension list', () => {
  it('declares each (slot, name, type URL) once, with the type URL of its schema', () => {
    const keys = EXTENSION_LIST.map((e) => `${e.slot} ${e.name} ${e.typeUrl}`);
    expect(new Set(keys).size).toBe(keys.length);
    for (const e of EXTENSION_LIST) expect(e.typeUrl).toBe(`type.googleapis.com/${e.schema.typeName}`);
  });

  it('finds schemas by type URL, including messages carried inside a config', () => {
    expect(schemaByTypeUrl(EXTENSIONS.grpcWeb.typeUrl)).toBe(EXTENSIONS.grpcWeb.schema);
    expect(schemaByTypeUrl(typeUrlOf(GrpcJsonTranscoderSchema))).toBe(GrpcJsonTranscoderSchema);
    expect(schemaByTypeUrl('type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit')).toBeUndefined();
  });

  it('says whether a filter is known, by slot, name and type URL', () => {
    expect(isKnownExtension('http_filter', 'envoy.filters.http.grpc_web', EXTENSIONS.grpcWeb.typeUrl)).toBe(true);
    expect(isKnownExtension('http_filter', 'envoy.filters.http.grpc_web', EXTENSIONS.rbac.typeUrl)).toBe(false);
    expect(isKnownExtension('network_filter', 'envoy.filters.http.grpc_web', EXTENSIONS.grpcWeb.typeUrl)).toBe(false);
    expect(isKnownExtension('http_filter', 'envoy.filters.http.local_ratelimit', 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit')).toBe(false);
  });

  it('packs typed configs that unpack with the same schema, and the JSON registry knows every one', () => {
    const f = typedExtension(EXTENSIONS.rbac, { rules: { policies: {} } });
    expect(f.name).toBe('envoy.filters.http.rbac');
    expect(anyUnpack(f.configType.value, EXTENSIONS.rbac.schema)?.rules).toBeDefined();
    expect(packExtension(EXTENSIONS.router).typeUrl).toBe(EXTENSIONS.router.typeUrl);
    for (const e of EXTENSION_LIST) for (const s of [e.schema, ...e.carries]) expect(xdsTypeRegistry.getMessage(s.typeName), s.typeName).toBeDefined();
  });

  it('recognizes an extension\'s typed config by the message name after the last slash, as Envoy does', () => {
    const hcm = EXTENSIONS.httpConnectionManager;
    expect(isExtensionConfig(hcm.typeUrl, hcm)).toBe(true);
    expect(isExtensionConfig('example.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', hcm)).toBe(true);
    expect(isExtensionConfig('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManagerX', hcm)).toBe(false);
    expect(isExtensionConfig('type.googleapis.com/x.envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', hcm)).toBe(false);
    expect(isExtensionConfig(hcm.schema.typeName, hcm)).toBe(false); // a type URL has a '/'
    expect(isExtensionConfig(EXTENSIONS.upstreamTls.typeUrl, EXTENSIONS.downstreamTls)).toBe(false);
    expect(isExtensionConfig(EXTENSIONS.openTelemetry.typeUrl, EXTENSIONS.openTelemetry)).toBe(true);
  });
});
