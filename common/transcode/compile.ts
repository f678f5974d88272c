/**
 * Compiles an Envoy GrpcJsonTranscoder config (as carried in an HCM filter or a virtual host's
 * typed_per_filter_config) into a Transcoder, cached by the config bytes so an xDS update that
 * keeps the config reuses it.
 */
import { unpackAny } from '../wire-decode.js';
import { createHash } from 'node:crypto';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { Any } from '@bufbuild/protobuf/wkt';
import { GrpcJsonTranscoderSchema } from '../../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';
import { FilterConfigSchema } from '../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { Transcoder, TranscoderConfigError } from './transcoder.js';
import { EXTENSIONS } from '../extensions.js';

export const TRANSCODER_TYPE = EXTENSIONS.grpcJsonTranscoder.typeUrl;
/** Weft's per-virtual-host filter for gRPC callers of an HTTP/JSON service (config: GrpcJsonTranscoder). */
export const REVERSE_FILTER = EXTENSIONS.grpcJsonReverse.name;

const cache = new Map<string, Transcoder>();

/** The Transcoder for a GrpcJsonTranscoder Any (or a FilterConfig wrapping one); throws TranscoderConfigError. */
export function compileTranscoderAny(any: Any): Transcoder {
  let a = any;
  if (a.typeUrl === EXTENSIONS.grpcJsonReverse.typeUrl) {
    const fc = unpackAny(a, FilterConfigSchema);
    if (!fc?.config) throw new TranscoderConfigError('FilterConfig without config');
    a = fc.config;
  }
  if (a.typeUrl !== TRANSCODER_TYPE) throw new TranscoderConfigError(`unsupported config type '${a.typeUrl}'`);
  const key = createHash('sha256').update(a.value).digest('hex');
  const hit = cache.get(key);
  if (hit) return hit;
  const cfg = unpackAny(a, GrpcJsonTranscoderSchema)!;
  if (cfg.descriptorSet.case !== 'protoDescriptorBin') throw new TranscoderConfigError('only proto_descriptor_bin is supported (a file path on the proxy is not)');
  const t = new Transcoder({ descriptorSet: cfg.descriptorSet.value, services: cfg.services, ignoredQueryParameters: cfg.ignoredQueryParameters, autoMapping: cfg.autoMapping });
  if (cache.size >= 16) cache.delete(cache.keys().next().value!);
  cache.set(key, t);
  return t;
}
