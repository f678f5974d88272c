/**
 * One entry point for decoding an xDS resource in the sidecar: the decoder per resource type, and
 * `decodeResource`, which turns any failure (bytes that are not the message they claim to be)
 * into an error with a path, so a bad response is NACKed and never throws (ads-client.ts and the
 * fuzz suite call exactly this).
 */
import type { ResourceKind } from '../../../common/xds-types.js';
import { decodeCluster } from './cluster.js';
import type { Decoded } from './decoded.js';
import { decodeEndpoint } from './endpoint.js';
import { decodeListener } from './listener.js';
import { decodeRoute } from './route.js';
import { decodeSecret } from './tls.js';

export const DECODERS: Readonly<Record<ResourceKind, (b: Uint8Array) => Decoded<unknown>>> = {
  cluster: decodeCluster,
  endpoint: decodeEndpoint,
  listener: decodeListener,
  route: decodeRoute,
  secret: decodeSecret,
};

const TYPE_NAME: Readonly<Record<ResourceKind, string>> = {
  cluster: 'Cluster',
  endpoint: 'ClusterLoadAssignment',
  listener: 'Listener',
  route: 'RouteConfiguration',
  secret: 'Secret',
};

/** Decodes and checks one resource; never throws. */
export function decodeResource(kind: ResourceKind, bytes: Uint8Array, name?: string): Decoded<unknown> {
  try {
    return DECODERS[kind](bytes);
  } catch (e) {
    return { name: name ?? '', errors: [{ resource: name, path: '', message: `does not decode as ${TYPE_NAME[kind]}: ${(e as Error).message}` }] };
  }
}
