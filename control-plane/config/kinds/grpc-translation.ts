/**
 * GRPCTranslation: HTTP/JSON clients call a gRPC service (direction jsonToGrpc, the default), or
 * gRPC clients call an HTTP/JSON service (grpcToJson). Names the Weft Service, a descriptor set (a google.protobuf.FileDescriptorSet, base64: `buf build -o - |
 * base64 -w0`) and the protobuf services to expose. The descriptor is compiled here, at apply
 * time: a set that does not parse, lacks a named service, or has a bad google.api.http rule is
 * rejected with the reason.
 */
import { Transcoder, TranscoderConfigError } from '../../../common/transcode/transcoder.js';
import type { GRPCTranslationSpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';

const PROTO_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

export function readGRPCTranslation(r: Reader, v: unknown): GRPCTranslationSpec | undefined {
  const o = r.obj(v, 'spec', ['service', 'direction', 'descriptorSet', 'protoServices', 'ignoredQueryParameters', 'autoMapping'], ['service', 'descriptorSet', 'protoServices']);
  if (!o) return undefined;
  const service = r.str(o.service, 'spec.service', { required: true, pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, patternHelp: 'a Service name' }) ?? '';
  const protoServices = r.arr(o.protoServices, 'spec.protoServices', (x, p) => r.str(x, p, { required: true, pattern: PROTO_NAME, patternHelp: 'a fully qualified protobuf service, e.g. bookstore.Bookstore' }), { nonEmpty: true }) ?? [];
  const ignored = r.arr(o.ignoredQueryParameters ?? [], 'spec.ignoredQueryParameters', (x, p) => r.str(x, p, { required: true, nonEmpty: true })) ?? [];
  const autoMapping = r.bool(o.autoMapping, 'spec.autoMapping') ?? true;
  const direction = (r.str(o.direction, 'spec.direction', { oneOf: ['jsonToGrpc', 'grpcToJson'] }) ?? 'jsonToGrpc') as 'jsonToGrpc' | 'grpcToJson';
  const b64 = r.str(o.descriptorSet, 'spec.descriptorSet', { required: true, nonEmpty: true }) ?? '';
  const bytes = Buffer.from(b64.replace(/\s+/g, ''), 'base64');
  if (b64 && (!/^[A-Za-z0-9+/=\s]+$/.test(b64) || !bytes.length)) {
    r.err('spec.descriptorSet', 'must be a base64 FileDescriptorSet (e.g. `buf build -o - | base64 -w0`)');
    return undefined;
  }
  if (b64 && protoServices.length) {
    try {
      new Transcoder({ descriptorSet: bytes, services: protoServices, ignoredQueryParameters: ignored, autoMapping });
    } catch (e) {
      if (!(e instanceof TranscoderConfigError)) throw e;
      const i = protoServices.findIndex((s) => e.message.startsWith(`service ${s} `));
      r.err(i >= 0 ? `spec.protoServices[${i}]` : 'spec.descriptorSet', e.message);
      return undefined;
    }
  }
  return { service, direction, descriptorSet: bytes.toString('base64'), protoServices, ignoredQueryParameters: ignored, autoMapping };
}

export const grpcTranslationKind: KindDefinition<'GRPCTranslation'> = {
  kind: 'GRPCTranslation',
  apiVersions: [API_VERSION_WEFT],
  plural: 'grpctranslations',
  shortNames: [],
  read: (r, spec) => readGRPCTranslation(r, spec),
  references(res, ctx) {
    const ns = res.metadata.namespace;
    const s = ctx.model.services.get(`Service/${ns}/${res.spec.service}`);
    if (!s) ctx.err('spec.service', `Service ${ns}/${res.spec.service} does not exist`);
    else if (res.spec.direction === 'jsonToGrpc' && !s.spec.ports.some((p) => p.protocol === 'grpc')) ctx.err('spec.service', `Service ${ns}/${res.spec.service} has no grpc port (with direction jsonToGrpc its instances must speak gRPC)`);
    else if (res.spec.direction === 'grpcToJson' && !s.spec.ports.some((p) => p.protocol === 'http')) ctx.err('spec.service', `Service ${ns}/${res.spec.service} has no http port (with direction grpcToJson its instances speak HTTP/JSON)`);
    const other = ctx.model.grpcTranslations.get(`Service/${ns}/${res.spec.service}`);
    if (other && other.metadata.name !== res.metadata.name) ctx.err('spec.service', `Service ${ns}/${res.spec.service} already has GRPCTranslation ${other.metadata.name}`);
  },
  addToModel: (b, res) => void b.grpcTranslations.set(`Service/${res.metadata.namespace}/${res.spec.service}`, res),
  summary: (res) => `service ${res.spec.service}; exposes ${res.spec.protoServices.join(',')}`,
};
