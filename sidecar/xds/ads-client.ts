/**
 * The sidecar's ADS client (state of the world). It subscribes to every Cluster and Listener,
 * follows them to the ClusterLoadAssignments and RouteConfigurations they name, decodes and checks
 * every resource, ACKs what it accepts and NACKs a response with any error (every error with its
 * field path), keeping the last good config. When the control plane is away it keeps serving what
 * it has and reconnects with jittered exponential backoff.
 */
import * as grpc from '@grpc/grpc-js';
import { create, type JsonObject } from '@bufbuild/protobuf';
import { adsServiceDefinition } from '../../common/ads-service.js';
import { formatFieldError, type FieldError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { NODE_META, TYPE_URL, type ResourceKind, type TypeUrl } from '../../common/xds-types.js';
import {
  DiscoveryRequestSchema,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import type { Cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { Cluster_DiscoveryType } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { ClusterLoadAssignment } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { RouteConfiguration } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import type { Decoded } from './types/decoded.js';
import { decodeCluster } from './types/cluster.js';
import { decodeEndpoint } from './types/endpoint.js';
import { decodeListener, type SidecarListener } from './types/listener.js';
import { decodeRoute } from './types/route.js';

/** The accepted config, replaced (never mutated) on every accepted update. */
export interface XdsConfig {
  readonly listeners: ReadonlyMap<string, SidecarListener>;
  readonly routes: ReadonlyMap<string, RouteConfiguration>;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly endpoints: ReadonlyMap<string, ClusterLoadAssignment>;
  /** Accepted version per type. */
  readonly versions: Readonly<Partial<Record<ResourceKind, string>>>;
}

export interface SidecarNodeIdentity {
  id: string;
  cluster: string;
  zone?: string;
  metadata: JsonObject;
}

export interface AdsClientOptions {
  /** host:port of the control plane's xDS listener. */
  address: string;
  node: SidecarNodeIdentity;
  logger?: Logger;
  onUpdate?: (config: XdsConfig, kind: ResourceKind) => void;
  onNack?: (kind: ResourceKind, errors: FieldError[]) => void;
  backoff?: { baseMs: number; maxMs: number };
  credentials?: grpc.ChannelCredentials;
}

type Decoder = (b: Uint8Array) => Decoded<unknown>;
const DECODERS: Record<ResourceKind, Decoder | undefined> = {
  cluster: decodeCluster,
  endpoint: decodeEndpoint,
  listener: decodeListener,
  route: decodeRoute,
  secret: undefined,
};
const KIND: Record<string, ResourceKind> = Object.fromEntries(Object.entries(TYPE_URL).map(([k, v]) => [v, k as ResourceKind]));

export class AdsClient {
  readonly #opts: AdsClientOptions;
  readonly #log: Logger;
  #client: grpc.Client | undefined;
  #stream: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> | undefined;
  #config: XdsConfig = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), versions: {} };
  #names = new Map<TypeUrl, string[]>();
  #nonces = new Map<TypeUrl, string>();
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #connected = false;
  #sentNode = false;

  constructor(opts: AdsClientOptions) {
    this.#opts = opts;
    this.#log = opts.logger ?? silentLogger;
  }

  get config(): XdsConfig {
    return this.#config;
  }

  /** True while a stream is open and has received at least one response. */
  get connected(): boolean {
    return this.#connected;
  }

  start(): void {
    this.#connect();
  }

  /**
   * Leaves the mesh on purpose: re-sends the node with WEFT_DRAINING (the control plane removes
   * the instance now, not after a grace period), then half-closes the stream. Resolves when the
   * control plane has closed its side, or after `timeoutMs`.
   */
  async leave(timeoutMs = 2000): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    const s = this.#stream;
    if (s) {
      const n = this.#opts.node;
      const t = TYPE_URL.cluster;
      const req = create(DiscoveryRequestSchema, {
        typeUrl: t,
        resourceNames: [],
        versionInfo: this.#config.versions.cluster ?? '',
        responseNonce: this.#nonces.get(t) ?? '',
        node: { id: n.id, cluster: n.cluster, metadata: { ...n.metadata, [NODE_META.draining]: true } },
      });
      s.write(req);
      await new Promise<void>((res) => {
        const t = setTimeout(res, timeoutMs);
        s.once('status', () => (clearTimeout(t), res()));
        s.once('error', () => (clearTimeout(t), res()));
        s.end();
      });
    }
    this.#client?.close();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#stream?.cancel();
    this.#client?.close();
  }

  #connect(): void {
    if (this.#closed) return;
    this.#client?.close();
    this.#client = new grpc.Client(this.#opts.address, this.#opts.credentials ?? grpc.credentials.createInsecure());
    const d = adsServiceDefinition.StreamAggregatedResources;
    const stream = this.#client.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize);
    this.#stream = stream;
    this.#sentNode = false;
    this.#nonces.clear();
    stream.on('data', (r: DiscoveryResponse) => this.#onResponse(r));
    const lost = (why: string) => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      this.#connected = false;
      this.#scheduleReconnect(why);
    };
    stream.on('error', (e: Error) => lost(e.message));
    stream.on('end', () => lost('stream ended'));
    // Wildcard CDS and LDS; on a reconnect, also the names we already follow.
    this.#request(TYPE_URL.cluster, [], this.#config.versions.cluster ?? '');
    this.#request(TYPE_URL.listener, [], this.#config.versions.listener ?? '');
    for (const t of [TYPE_URL.endpoint, TYPE_URL.route]) {
      const names = this.#names.get(t);
      if (names?.length) this.#request(t, names, this.#config.versions[KIND[t]!] ?? '');
    }
  }

  #scheduleReconnect(why: string): void {
    if (this.#closed) return;
    const { baseMs, maxMs } = this.#opts.backoff ?? { baseMs: 100, maxMs: 15_000 };
    const ceiling = Math.min(maxMs, baseMs * 2 ** this.#attempt++);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2); // jitter: never all at once
    this.#log.warn({ why, retryInMs: Math.round(delay) }, 'control plane unreachable; serving the last good config');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }

  #request(typeUrl: TypeUrl, names: string[], version: string, nonce = '', error?: string): void {
    const req = create(DiscoveryRequestSchema, { typeUrl, resourceNames: names, versionInfo: version, responseNonce: nonce });
    if (error !== undefined) req.errorDetail = create(DiscoveryRequestSchema.field.errorDetail.message!, { code: 3, message: error }) as DiscoveryRequest['errorDetail'];
    if (!this.#sentNode) {
      const n = this.#opts.node;
      req.node = create(DiscoveryRequestSchema.field.node.message!, {
        id: n.id,
        cluster: n.cluster,
        metadata: n.metadata,
        userAgentName: 'weft-sidecar',
        ...(n.zone ? { locality: { zone: n.zone } } : {}),
      }) as DiscoveryRequest['node'];
      this.#sentNode = true;
    }
    this.#stream?.write(req);
  }

  #onResponse(r: DiscoveryResponse): void {
    this.#attempt = 0;
    this.#connected = true;
    const t = r.typeUrl as TypeUrl;
    const kind = KIND[t];
    const decode = kind ? DECODERS[kind] : undefined;
    this.#nonces.set(t, r.nonce);
    const names = this.#names.get(t) ?? [];
    if (!kind || !decode) {
      this.#request(t, names, '', r.nonce, `type ${r.typeUrl} is not supported by this sidecar`);
      return;
    }
    const errors: FieldError[] = [];
    const accepted = new Map<string, unknown>();
    for (const any of r.resources) {
      if (any.typeUrl !== t) {
        errors.push({ path: 'resources', message: `resource of type ${any.typeUrl} in a ${t} response` });
        continue;
      }
      const d = decode(any.value);
      errors.push(...d.errors);
      if (d.value !== undefined) accepted.set(d.name, d.value);
    }
    if (errors.length) {
      const message = errors.map(formatFieldError).join('; ');
      this.#log.warn({ kind, version: r.versionInfo, errors: errors.length, message }, 'xDS update rejected (NACK); keeping the last good config');
      this.#request(t, names, this.#config.versions[kind] ?? '', r.nonce, message);
      this.#opts.onNack?.(kind, errors);
      return;
    }
    const next = { ...this.#config, versions: { ...this.#config.versions, [kind]: r.versionInfo } };
    if (kind === 'cluster') next.clusters = accepted as Map<string, Cluster>;
    else if (kind === 'endpoint') next.endpoints = accepted as Map<string, ClusterLoadAssignment>;
    else if (kind === 'listener') next.listeners = accepted as Map<string, SidecarListener>;
    else if (kind === 'route') next.routes = accepted as Map<string, RouteConfiguration>;
    this.#config = next;
    this.#request(t, names, r.versionInfo, r.nonce);
    // Follow references: EDS for EDS clusters, RDS for the listeners' route names.
    if (kind === 'cluster') {
      this.#follow(TYPE_URL.endpoint, [...next.clusters.values()].filter((c) => c.clusterDiscoveryType.case === 'type' && c.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS).map((c) => c.edsClusterConfig?.serviceName || c.name));
    } else if (kind === 'listener') {
      this.#follow(TYPE_URL.route, [...next.listeners.values()].map((l) => l.routeName));
    }
    this.#opts.onUpdate?.(next, kind);
  }

  #follow(t: TypeUrl, names: string[]): void {
    const sorted = [...new Set(names)].sort();
    const old = this.#names.get(t);
    if (old && old.join('\0') === sorted.join('\0')) return;
    this.#names.set(t, sorted);
    this.#request(t, sorted, this.#config.versions[KIND[t]!] ?? '', this.#nonces.get(t) ?? '');
  }
}
