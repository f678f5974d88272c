/**
 * Simulated xDS proxies for the convergence benchmark: each is one gRPC channel with one ADS
 * stream, state of the world or delta (what Weft sidecars use by default), that behaves like a
 * sidecar (CDS and LDS wildcard, then EDS and RDS for what those name), ACKs every response at
 * once, and records when it ACKed each version of each type (delta: the response's
 * system_version_info, which the control plane sets to the type's snapshot version).
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryRequestSchema, DiscoveryRequestSchema, type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse } from '../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { adsServiceDefinition } from '../common/ads-service.js';
import { ClusterSchema, Cluster_DiscoveryType } from '../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { HttpConnectionManagerSchema } from '../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { NodeSchema } from '../proto/gen/envoy/config/core/v3/base_pb.js';
import { TYPE_URL } from '../common/xds-types.js';

export interface SimProxyOptions {
  address: string;
  id: string;
  service: string;
  namespace?: string;
  instancePort: number;
  protocol?: 'sotw' | 'delta';
}

export class SimProxy {
  /** ACK time (performance.now()) per type URL per version. */
  readonly acked = new Map<string, Map<string, number>>();
  readonly versions = new Map<string, string>();
  /** The stream's error, when it ended with one (it is not reopened). */
  error: string | undefined;
  readonly #client: grpc.Client;
  readonly #stream: grpc.ClientDuplexStream<DiscoveryRequest | DeltaDiscoveryRequest, DiscoveryResponse | DeltaDiscoveryResponse>;
  readonly #delta: boolean;
  readonly #subs = new Map<string, string[]>();
  #first = true;
  #clusterNames = '';
  /** Delta: the resources held, by type, by name (their first field, the name). */
  readonly #held = new Map<string, Map<string, Uint8Array>>();

  constructor(readonly opts: SimProxyOptions) {
    this.#delta = opts.protocol === 'delta';
    this.#client = new grpc.Client(opts.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const d = this.#delta ? adsServiceDefinition.DeltaAggregatedResources : adsServiceDefinition.StreamAggregatedResources;
    type Ser = (m: DiscoveryRequest | DeltaDiscoveryRequest) => Buffer;
    type De = (b: Buffer) => DiscoveryResponse | DeltaDiscoveryResponse;
    this.#stream = this.#client.makeBidiStreamRequest(d.path, d.requestSerialize as Ser, d.responseDeserialize as De);
    this.#stream.on('data', (r: DiscoveryResponse | DeltaDiscoveryResponse) => (this.#delta ? this.#onDelta(r as DeltaDiscoveryResponse) : this.#onResponse(r as DiscoveryResponse)));
    this.#stream.on('error', (e) => {
      this.error = e.message;
      if (process.env.SIM_DEBUG) console.log('SIMERR', e.message);
    });
    this.#send(TYPE_URL.cluster, [], '', '');
    this.#send(TYPE_URL.listener, [], '', '');
  }

  #node() {
    if (!this.#first) return undefined;
    this.#first = false;
    return create(NodeSchema, {
      id: this.opts.id,
      cluster: this.opts.service,
      metadata: {
        WEFT_ROLE: 'sidecar',
        WEFT_SERVICE: this.opts.service,
        WEFT_NAMESPACE: this.opts.namespace ?? 'default',
        WEFT_INSTANCE_IP: '127.0.0.1',
        WEFT_INSTANCE_PORT: String(this.opts.instancePort),
        WEFT_APP_PORT: '8080',
        WEFT_APP_PROTOCOL: 'http',
      },
    });
  }

  #send(typeUrl: string, names: string[], version: string, nonce: string, unsubscribe: string[] = []): void {
    if (this.#delta) {
      const node = this.#node();
      this.#stream.write(create(DeltaDiscoveryRequestSchema, { typeUrl, resourceNamesSubscribe: names, resourceNamesUnsubscribe: unsubscribe, responseNonce: nonce, ...(node ? { node } : {}) }));
      return;
    }
    const req = create(DiscoveryRequestSchema, { typeUrl, resourceNames: names, versionInfo: version, responseNonce: nonce });
    const node = this.#node();
    if (node) req.node = node;
    this.#stream.write(req);
  }

  #onResponse(r: DiscoveryResponse): void {
    const t = r.typeUrl;
    const names = this.#subs.get(t) ?? [];
    this.#send(t, names, r.versionInfo, r.nonce);
    const now = performance.now();
    let m = this.acked.get(t);
    if (!m) this.acked.set(t, (m = new Map()));
    if (!m.has(r.versionInfo)) m.set(r.versionInfo, now);
    this.versions.set(t, r.versionInfo);
    // Follow references like a proxy: clusters -> their EDS names, listeners -> their routes.
    if (t === TYPE_URL.cluster) {
      // A real proxy decodes every cluster in its own process; 1,000 simulated ones share one
      // core here, so decode fully only when the set of names changed.
      const names = r.resources.map((a) => firstStringField(a.value)).join('\0');
      if (names !== this.#clusterNames) {
        this.#clusterNames = names;
        const eds = r.resources
          .map((a) => fromBinary(ClusterSchema, a.value))
          .filter((c) => c.clusterDiscoveryType.case === 'type' && c.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS)
          .map((c) => c.edsClusterConfig?.serviceName || c.name)
          .sort();
        this.#resubscribe(TYPE_URL.endpoint, eds);
      }
    } else if (t === TYPE_URL.listener) {
      const routes = r.resources.flatMap((a) => routesOf(a.value));
      this.#resubscribe(TYPE_URL.route, [...new Set(routes)].sort());
    }
  }

  #onDelta(r: DeltaDiscoveryResponse): void {
    const t = r.typeUrl;
    this.#send(t, [], '', r.nonce);
    const now = performance.now();
    let m = this.acked.get(t);
    if (!m) this.acked.set(t, (m = new Map()));
    if (!m.has(r.systemVersionInfo)) m.set(r.systemVersionInfo, now);
    this.versions.set(t, r.systemVersionInfo);
    let held = this.#held.get(t);
    if (!held) this.#held.set(t, (held = new Map()));
    let namesChanged = r.removedResources.length > 0;
    for (const n of r.removedResources) held.delete(n);
    for (const res of r.resources) {
      if (!held.has(res.name)) namesChanged = true;
      held.set(res.name, res.resource?.value ?? new Uint8Array());
    }
    if (!namesChanged) return;
    if (t === TYPE_URL.cluster) {
      const eds = [...held.values()]
        .map((b) => fromBinary(ClusterSchema, b))
        .filter((c) => c.clusterDiscoveryType.case === 'type' && c.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS)
        .map((c) => c.edsClusterConfig?.serviceName || c.name)
        .sort();
      this.#resubscribe(TYPE_URL.endpoint, eds);
    } else if (t === TYPE_URL.listener) {
      const routes = new Set<string>();
      for (const b of held.values()) for (const n of routesOf(b)) routes.add(n);
      this.#resubscribe(TYPE_URL.route, [...routes].sort());
    }
  }

  #resubscribe(typeUrl: string, names: string[]): void {
    const old = this.#subs.get(typeUrl);
    if (old && old.join('\0') === names.join('\0')) return;
    this.#subs.set(typeUrl, names);
    if (this.#delta) {
      const before = new Set(old ?? []);
      const now = new Set(names);
      this.#send(typeUrl, names.filter((n) => !before.has(n)), '', '', [...before].filter((n) => !now.has(n)));
      return;
    }
    this.#send(typeUrl, names, this.versions.get(typeUrl) ?? '', '');
  }

  close(): void {
    this.#stream.cancel();
    this.#client.close();
  }
}

/** The RDS route names a Listener's HTTP connection managers refer to. */
function routesOf(b: Uint8Array): string[] {
  const l = fromBinary(ListenerSchema, b);
  const out: string[] = [];
  const anys = [l.apiListener?.apiListener, ...l.filterChains.flatMap((fc) => fc.filters.map((f) => (f.configType.case === 'typedConfig' ? f.configType.value : undefined)))];
  for (const any of anys) {
    if (!any || !any.typeUrl.endsWith('HttpConnectionManager')) continue;
    const hcm = fromBinary(HttpConnectionManagerSchema, any.value);
    if (hcm.routeSpecifier.case === 'rds') out.push(hcm.routeSpecifier.value.routeConfigName);
  }
  return out;
}

/** Field 1 of a message when it is a string (a resource's name): cheap, no full decode. */
function firstStringField(b: Uint8Array): string {
  if (b[0] !== 0x0a) return '';
  let len = 0;
  let shift = 0;
  let i = 1;
  for (; i < b.length; i++) {
    len |= (b[i]! & 0x7f) << shift;
    shift += 7;
    if (!(b[i]! & 0x80)) break;
  }
  return Buffer.from(b.buffer, b.byteOffset + i + 1, len).toString('utf8');
}
