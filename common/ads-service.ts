/**
 * The gRPC definition of envoy.service.discovery.v3.AggregatedDiscoveryService, (de)serialized
 * with wire tables (common/wire-decode.ts, wire-encode.ts: the sidecar builds no protobuf-es
 * descriptor for them): one definition for the control plane's server, the sidecar's client and
 * the test and benchmark clients.
 */
import { decodeMessage } from './wire-decode.js';
import { encodeMessage } from './wire-encode.js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  DeltaDiscoveryRequestSchema,
  DeltaDiscoveryResponseSchema,
  DiscoveryRequestSchema,
  DiscoveryResponseSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../proto/gen/envoy/service/discovery/v3/discovery_pb.js';

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: `${SERVICE}/StreamAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DiscoveryRequest) => Buffer.from(encodeMessage(DiscoveryRequestSchema, m)),
    requestDeserialize: (b: Buffer) => decodeMessage(DiscoveryRequestSchema, b),
    // The server writes pre-encoded responses (control-plane/xds/wire.ts); message objects are accepted too.
    responseSerialize: (m: DiscoveryResponse | Buffer) => (Buffer.isBuffer(m) ? m : Buffer.from(encodeMessage(DiscoveryResponseSchema, m))),
    responseDeserialize: (b: Buffer) => decodeMessage(DiscoveryResponseSchema, b),
  },
  DeltaAggregatedResources: {
    path: `${SERVICE}/DeltaAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DeltaDiscoveryRequest) => Buffer.from(encodeMessage(DeltaDiscoveryRequestSchema, m)),
    requestDeserialize: (b: Buffer) => decodeMessage(DeltaDiscoveryRequestSchema, b),
    responseSerialize: (m: DeltaDiscoveryResponse | Buffer) => (Buffer.isBuffer(m) ? m : Buffer.from(encodeMessage(DeltaDiscoveryResponseSchema, m))),
    responseDeserialize: (b: Buffer) => decodeMessage(DeltaDiscoveryResponseSchema, b),
  },
} satisfies ServiceDefinition;
