/**
 * gRPC definition of weft.v1.IdentityService (proto/weft/v1/identity.proto), (de)serialized with
 * wire tables (common/wire-decode.ts, wire-encode.ts: the sidecar builds no protobuf-es descriptor
 * for them), shared by the control plane's server and the sidecar's client.
 */
import { decodeMessage } from './wire-decode.js';
import { encodeMessage } from './wire-encode.js';
import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  SignCertificateRequestSchema,
  SignCertificateResponseSchema,
  type SignCertificateRequest,
  type SignCertificateResponse,
} from '../proto/gen/weft/v1/identity_pb.js';

export const identityServiceDefinition = {
  SignCertificate: {
    path: '/weft.v1.IdentityService/SignCertificate',
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: SignCertificateRequest) => Buffer.from(encodeMessage(SignCertificateRequestSchema, m)),
    requestDeserialize: (b: Buffer) => decodeMessage(SignCertificateRequestSchema, b),
    responseSerialize: (m: SignCertificateResponse) => Buffer.from(encodeMessage(SignCertificateResponseSchema, m)),
    responseDeserialize: (b: Buffer) => decodeMessage(SignCertificateResponseSchema, b),
  },
} satisfies ServiceDefinition;

/** The control plane's own identity: sidecars check it on the xDS TLS connection. */
export function controlPlaneSpiffeId(trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/weft-system/sa/control-plane`;
}

/** The spiffe:// URIs in a certificate's subjectAltName string ("URI:spiffe://…, DNS:…"). */
export function spiffeIdsOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const out: string[] = [];
  for (const part of subjectAltName.split(/,\s*/)) if (part.startsWith('URI:spiffe://')) out.push(part.slice(4));
  return out;
}
