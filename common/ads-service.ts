/**
 * The gRPC definition of envoy.service.discovery.v3.AggregatedDiscoveryService with protobuf-es
 * (de)serializers: one definition for the control plane's server, the sidecar's client and the
 * test and benchmark clients.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
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
    requestSerialize: (m: DiscoveryRequest) => Buffer.from(toBinary(DiscoveryRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(DiscoveryRequestSchema, b),
    // The server writes pre-encoded responses (control-plane/xds/wire.ts); message objects are accepted too.
    responseSerialize: (m: DiscoveryResponse | Buffer) => (Buffer.isBuffer(m) ? m : Buffer.from(toBinary(DiscoveryResponseSchema, m))),
    responseDeserialize: (b: Buffer) => fromBinary(DiscoveryResponseSchema, b),
  },
  DeltaAggregatedResources: {
    path: `${SERVICE}/DeltaAggregatedResources`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DeltaDiscoveryRequest) => Buffer.from(toBinary(DeltaDiscoveryRequestSchema, m)),
    requestDeserialize: (b: Buffer) => fromBinary(DeltaDiscoveryRequestSchema, b),
    responseSerialize: (m: DeltaDiscoveryResponse | Buffer) => (Buffer.isBuffer(m) ? m : Buffer.from(toBinary(DeltaDiscoveryResponseSchema, m))),
    responseDeserialize: (b: Buffer) => fromBinary(DeltaDiscoveryResponseSchema, b),
  },
} satisfies ServiceDefinition;
