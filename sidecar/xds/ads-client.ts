/**
 * The sidecar's ADS client. It speaks incremental xDS (DeltaAggregatedResources) when the control
 * plane offers it and state of the world (StreamAggregatedResources) otherwise: in `auto` mode a
 * delta stream that ends UNIMPLEMENTED before any response switches this client to state of the
 * world for good. Either way it subscribes to every Cluster and Listener, follows them to the
 * ClusterLoadAssignments and RouteConfigurations they name, decodes and checks every resource,
 * ACKs what it accepts and NACKs a response with any error (every error with its field path),
 * keeping the last good config. When the control plane is away it keeps serving what it has,
 * reconnects with jittered exponential backoff, and on a delta stream tells the control plane what
 * it already holds (initial_resource_versions) so only differences are sent again.
 */
import type { JsonObject } from '@bufbuild/protobuf';
import { createMessage } from '../../common/wire-encode.js';
import { NodeSchema } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import { StatusSchema } from '../../proto/gen/google/rpc/status_pb.js';
import { adsServiceDefinition } from '../../common/ads-service.js';
import { controlPlaneChannel, type ControlPlaneTls } from '../identity/workload.js';
import { GrpcStatus, type GrpcCall, type GrpcChannel } from './grpc-channel.js';
import { ControlPlanes } from '../identity/control-planes.js';
import { isNotTlsError, notTlsMessage } from '../identity/not-tls.js';
import { formatFieldError, type FieldError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { NODE_META, TYPE_URL, type ResourceKind, type TypeUrl } from '../../common/xds-types.js';
import {
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
} from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import type { HeldEndpoints } from './types/endpoint.js';
import type { HeldCluster } from './types/cluster.js';
import type { RouteConfiguration } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import type { XdsListener } from './types/listener.js';
import { DECODERS, decodeResource } from './types/index.js';
import { beforeDecode, loadFailure, PrepareRefusal } from './decode-needs.js';
import { InOrder } from './in-order.js';
import type { SidecarSecret } from './types/tls.js';

/** The accepted config, replaced (never mutated) on every accepted update. */
export interface XdsConfig {
  readonly listeners: ReadonlyMap<string, XdsListener>;
  readonly routes: ReadonlyMap<string, RouteConfiguration>;
  /** CDS, held as bytes (HeldCluster: decoded when the runtime builds one). */
  readonly clusters: ReadonlyMap<string, HeldCluster>;
  /** EDS, held as bytes (HeldEndpoints: decoded only when applied). */
  readonly endpoints: ReadonlyMap<string, HeldEndpoints>;
  /** SDS: trust bundles by name. */
  readonly secrets: ReadonlyMap<string, SidecarSecret>;
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
  /** host:port of the control plane's xDS listener, or the replicas to fail over between. */
  address: string | ControlPlanes;
  node: SidecarNodeIdentity;
  logger?: Logger;
  onUpdate?: (config: XdsConfig, kind: ResourceKind) => void;
  onNack?: (kind: ResourceKind, errors: FieldError[]) => void;
  /**
   * Called with a decoded, valid update before it is applied and ACKed. A promise holds it, and
   * every response after it in order, until it settles: code the update needs (the tracing SDK)
   * is loaded first, so nothing is served with it half ready. A rejection NACKs the update.
   */
  prepare?: (kind: ResourceKind, accepted: ReadonlyMap<string, unknown>) => Promise<void> | undefined;
  backoff?: { baseMs: number; maxMs: number };
  /**
   * An update whose `prepare` refused it with `PrepareRefusal.retry` (a port another process
   * holds) is NACKed once, then prepared again after baseMs, doubling to maxMs, and applied and
   * ACKed when prepare succeeds; a newer response of its type or a new stream ends the retries.
   * Default 1 s to 15 s.
   */
  prepareRetry?: { baseMs: number; maxMs: number };
  /** TLS for the channel (the workload certificate of the moment); none: plaintext. */
  tls?: ControlPlaneTls;
  /** `auto` (default): delta, falling back to state of the world if the server lacks it. */
  protocol?: XdsProtocolMode;
}

export type XdsProtocolMode = 'auto' | 'delta' | 'sotw';
export type XdsProtocol = 'delta' | 'sotw';

type AnyStream = GrpcCall<DiscoveryRequest | DeltaDiscoveryRequest>;

const NO_BYTES = new Uint8Array(0);

const KIND: Record<string, ResourceKind> = Object.fromEntries(Object.entries(TYPE_URL).map(([k, v]) => [v, k as ResourceKind]));

export class AdsClient {
  readonly #opts: AdsClientOptions;
  readonly #log: Logger;
  /** Replica addresses already reported as not speaking TLS. */
  readonly #notTls = new Set<string>();
  #client: GrpcChannel | undefined;
  #stream: AnyStream | undefined;
  #protocol: XdsProtocol;
  #config: XdsConfig = { listeners: new Map(), routes: new Map(), clusters: new Map(), endpoints: new Map(), secrets: new Map(), versions: {} };
  /** Names followed for EDS and RDS (sorted). */
  #names = new Map<TypeUrl, string[]>();
  #nonces = new Map<TypeUrl, string>();
  /** Responses received per type: a retried update is stale once a newer one has come. */
  #received = new Map<ResourceKind, number>();
  /** Pending retries of refused updates (cleared by close()). */
  readonly #retries = new Set<NodeJS.Timeout>();
  /** Responses in arrival order; an update waiting for `prepare` holds the line. */
  readonly #inOrder = new InOrder();
  /** Delta only: what this client holds per type, name -> version. */
  #held = new Map<TypeUrl, Map<string, string>>();
  #attempt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #connected = false;
  #sentNode = false;
  readonly #planes: ControlPlanes;
  /** The replica the current (or last) stream went to. */
  #address = '';

  constructor(opts: AdsClientOptions) {
    this.#opts = opts;
    this.#planes = ControlPlanes.of(opts.address);
    this.#log = opts.logger ?? silentLogger;
    this.#protocol = opts.protocol === 'sotw' ? 'sotw' : 'delta';
  }

  get config(): XdsConfig {
    return this.#config;
  }

  /** The xDS variant in use (or to be tried next). */
  get protocol(): XdsProtocol {
    return this.#protocol;
  }

  /** The control-plane replica this client streams from (or tries next). */
  get address(): string {
    return this.#address || this.#planes.current;
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
      const node = { id: n.id, cluster: n.cluster, metadata: { ...n.metadata, [NODE_META.draining]: true } };
      const t = TYPE_URL.cluster;
      // A request that changes nothing but the node: no response is due to it.
      s.write(
        this.#protocol === 'delta'
          ? createMessage(DeltaDiscoveryRequestSchema, { typeUrl: t, node })
          : createMessage(DiscoveryRequestSchema, { typeUrl: t, resourceNames: [], versionInfo: this.#config.versions.cluster ?? '', responseNonce: this.#nonces.get(t) ?? '', node }),
      );
      await new Promise<void>((res) => {
        const timer = setTimeout(res, timeoutMs);
        void s.ended.then(() => (clearTimeout(timer), res()));
        s.end();
      });
    }
    this.#client?.close();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const t of this.#retries) clearTimeout(t);
    this.#retries.clear();
    this.#stream?.cancel();
    this.#client?.close();
  }

  #connect(): void {
    if (this.#closed) return;
    this.#client?.close();
    const address = this.#planes.current;
    this.#address = address;
    this.#client = controlPlaneChannel(address, this.#opts.tls);
    const delta = this.#protocol === 'delta';
    const d = delta ? adsServiceDefinition.DeltaAggregatedResources : adsServiceDefinition.StreamAggregatedResources;
    let answered = false;
    let stream: AnyStream | undefined = undefined;
    const lost = (why: string, code?: number) => {
      if (this.#stream !== stream) return;
      this.#stream = undefined;
      this.#connected = false;
      if (delta && !answered && code === GrpcStatus.UNIMPLEMENTED && this.#opts.protocol !== 'delta') {
        this.#log.info('the control plane does not offer delta xDS; using state of the world');
        this.#protocol = 'sotw';
        this.#connect();
        return;
      }
      // Lost (replica died, restarted, partitioned) or never reached: the next replica is tried
      // (with one, the same again); the last good config keeps serving meanwhile.
      this.#planes.next(address);
      this.#scheduleReconnect(why, address);
      // A replica address that is not the TLS xDS port (the admin or plaintext port) fails the
      // same way forever: say once which port it is and what to use instead.
      if (isNotTlsError({ message: why }) && !this.#notTls.has(address)) {
        this.#notTls.add(address);
        void notTlsMessage(address).then((m) => this.#log.error({ controlPlane: address }, m));
      }
    };
    const onMessage = (r: DiscoveryResponse | DeltaDiscoveryResponse): void => {
      answered = true;
      const handle = (): void => {
        if (this.#stream !== stream) return; // a newer stream gets everything again
        const run = (loadError?: unknown): void => {
          if (this.#stream !== stream) return;
          if (delta) this.#onDelta(r as DeltaDiscoveryResponse, loadError);
          else this.#onSotw(r as DiscoveryResponse, loadError);
        };
        // A library this response's configs compile with (Ajv for a Validation) is loaded first.
        const bodies = delta ? (r as DeltaDiscoveryResponse).resources.map((x) => x.resource?.value ?? NO_BYTES) : (r as DiscoveryResponse).resources.map((a) => a.value);
        const wait = beforeDecode(bodies);
        if (wait) this.#inOrder.hold(wait, run);
        else run();
      };
      this.#inOrder.run(handle);
    };
    stream = this.#client.call(d.path, d.requestSerialize as (m: DiscoveryRequest | DeltaDiscoveryRequest) => Uint8Array, d.responseDeserialize as (b: Buffer) => DiscoveryResponse | DeltaDiscoveryResponse, {
      onMessage,
      onClose: (e) => lost(e ? e.message : 'stream ended', e?.code),
    });
    this.#stream = stream;
    this.#sentNode = false;
    this.#nonces.clear();
    if (delta) {
      // Wildcard CDS and LDS (an empty first subscribe); EDS and RDS by name. On a reconnect, what
      // we hold goes in initial_resource_versions so unchanged resources are not sent again.
      for (const t of [TYPE_URL.cluster, TYPE_URL.listener, TYPE_URL.endpoint, TYPE_URL.route, TYPE_URL.secret]) {
        const names = this.#names.get(t);
        const byName = t === TYPE_URL.endpoint || t === TYPE_URL.route || t === TYPE_URL.secret;
        if (byName && !names?.length) continue;
        const held = this.#held.get(t);
        this.#sendDelta(createMessage(DeltaDiscoveryRequestSchema, {
          typeUrl: t,
          resourceNamesSubscribe: names ?? [],
          initialResourceVersions: held ? Object.fromEntries(held) : {},
        }));
      }
      return;
    }
    this.#requestSotw(TYPE_URL.cluster, [], this.#config.versions.cluster ?? '');
    this.#requestSotw(TYPE_URL.listener, [], this.#config.versions.listener ?? '');
    for (const t of [TYPE_URL.endpoint, TYPE_URL.route, TYPE_URL.secret]) {
      const names = this.#names.get(t);
      if (names?.length) this.#requestSotw(t, names, this.#config.versions[KIND[t]!] ?? '');
    }
  }

  #scheduleReconnect(why: string, from: string): void {
    if (this.#closed) return;
    const { baseMs, maxMs } = this.#opts.backoff ?? { baseMs: 100, maxMs: 15_000 };
    // The backoff grows once per round over every replica: a proxy whose replica died reaches
    // the next one at once, and a mesh whose replicas are all down does not hammer them.
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.floor(this.#attempt++ / this.#planes.size));
    const delay = ceiling / 2 + Math.random() * (ceiling / 2); // jitter: never all at once
    this.#log.warn({ why, controlPlane: from, next: this.#planes.current, retryInMs: Math.round(delay) }, 'control plane unreachable; serving the last good config');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#connect(), delay);
    this.#timer.unref();
  }

  /** This sidecar's Node message (also sent on its load-report stream). */
  nodeMessage(): NonNullable<DiscoveryRequest['node']> {
    return this.#nodeProto()!;
  }

  #nodeProto(): DiscoveryRequest['node'] {
    const n = this.#opts.node;
    return createMessage(NodeSchema, {
      id: n.id,
      cluster: n.cluster,
      metadata: n.metadata,
      userAgentName: 'weft-sidecar',
      ...(n.zone ? { locality: { zone: n.zone } } : {}),
    }) as DiscoveryRequest['node'];
  }

  #requestSotw(typeUrl: TypeUrl, names: string[], version: string, nonce = '', error?: string): void {
    const req = createMessage(DiscoveryRequestSchema, { typeUrl, resourceNames: names, versionInfo: version, responseNonce: nonce });
    if (error !== undefined) req.errorDetail = errorDetail(error);
    if (!this.#sentNode) {
      req.node = this.#nodeProto();
      this.#sentNode = true;
    }
    this.#stream?.write(req);
  }

  #sendDelta(req: DeltaDiscoveryRequest): void {
    if (!this.#sentNode) {
      req.node = this.#nodeProto();
      this.#sentNode = true;
    }
    this.#stream?.write(req);
  }

  /** Decodes a response's resources; every error with its path. */
  #decode(t: TypeUrl, kind: ResourceKind, items: Array<{ name?: string; any: { typeUrl: string; value: Uint8Array } | undefined }>) {
    const errors: FieldError[] = [];
    const accepted = new Map<string, unknown>();
    for (const it of items) {
      if (!it.any) {
        errors.push({ resource: it.name, path: 'resource', message: 'missing' });
        continue;
      }
      if (it.any.typeUrl !== t) {
        errors.push({ resource: it.name, path: 'resources', message: `resource of type ${it.any.typeUrl} in a ${t} response` });
        continue;
      }
      const d = decodeResource(kind, it.any.value, it.name);
      errors.push(...d.errors);
      if (it.name !== undefined && d.name !== it.name) errors.push({ resource: it.name, path: 'name', message: `resource is named '${d.name}' inside` });
      if (d.value !== undefined) accepted.set(d.name, d.value);
    }
    return { errors, accepted };
  }

  /**
   * Runs `apply` now, or once the `prepare` hook's promise settles (`nack` with the reason if it
   * fails); responses that arrive meanwhile run after it, in order (#inOrder).
   */
  #whenPrepared(kind: ResourceKind, accepted: ReadonlyMap<string, unknown>, version: string, apply: () => void, nack: (message: string) => void): void {
    const wait = this.#opts.prepare?.(kind, accepted);
    if (!wait) {
      apply();
      return;
    }
    const stream = this.#stream;
    const seq = this.#received.get(kind);
    this.#inOrder.hold(wait, (e) => {
      if (this.#stream !== stream) return; // a newer stream gets everything again
      if (e === undefined) {
        apply();
        return;
      }
      const { errors } = loadFailure(e);
      nack(this.#nackMessage(kind, version, errors));
      this.#opts.onNack?.(kind, errors);
      if (e instanceof PrepareRefusal && e.retry) this.#retryLater(kind, accepted, version, apply, stream, seq, this.#opts.prepareRetry?.baseMs ?? 1000);
    });
  }

  /**
   * Prepares a refused update again after `delayMs` (doubling up to prepareRetry.maxMs), in line
   * with other responses; applies and ACKs it (its own nonce, still the latest of its type) once
   * prepare succeeds. It is not NACKed again. Given up when the stream changes, the client closes
   * or a newer response of the same type arrives (that one is decided on its own).
   */
  #retryLater(kind: ResourceKind, accepted: ReadonlyMap<string, unknown>, version: string, apply: () => void, stream: AnyStream | undefined, seq: number | undefined, delayMs: number): void {
    const stale = () => this.#closed || this.#stream !== stream || this.#received.get(kind) !== seq;
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      this.#inOrder.run(() => {
        if (stale()) return;
        const wait = this.#opts.prepare?.(kind, accepted) ?? Promise.resolve();
        this.#inOrder.hold(wait, (e) => {
          if (stale()) return;
          if (e === undefined) {
            this.#log.info({ kind, version }, 'xDS update accepted on a retry (what refused it has changed)');
            apply();
          } else if (e instanceof PrepareRefusal && e.retry) {
            this.#log.debug({ kind, version, why: e.message }, 'xDS update still refused; trying again later');
            this.#retryLater(kind, accepted, version, apply, stream, seq, Math.min(delayMs * 2, this.#opts.prepareRetry?.maxMs ?? 15_000));
          }
        });
      });
    }, delayMs);
    timer.unref();
    this.#retries.add(timer);
  }

  #nackMessage(kind: ResourceKind, version: string, errors: FieldError[]): string {
    const message = errors.map(formatFieldError).join('; ');
    this.#log.warn({ kind, version, errors: errors.length, message }, 'xDS update rejected (NACK); keeping the last good config');
    return message;
  }

  /** A response on the current stream: the replica is reachable; say so once per stream. */
  #answered(): void {
    this.#attempt = 0;
    if (this.#connected) return;
    this.#connected = true;
    this.#log.info({ controlPlane: this.#address, protocol: this.#protocol }, 'xDS stream up');
  }

  #onSotw(r: DiscoveryResponse, loadError?: unknown): void {
    this.#answered();
    const t = r.typeUrl as TypeUrl;
    const kind = KIND[t];
    this.#nonces.set(t, r.nonce);
    if (kind) this.#received.set(kind, (this.#received.get(kind) ?? 0) + 1);
    const names = this.#names.get(t) ?? [];
    if (!kind || !DECODERS[kind]) {
      this.#requestSotw(t, names, '', r.nonce, `type ${r.typeUrl} is not supported by this sidecar`);
      return;
    }
    const { errors, accepted } = loadError !== undefined ? loadFailure(loadError) : this.#decode(t, kind, r.resources.map((any) => ({ any })));
    if (errors.length) {
      this.#requestSotw(t, names, this.#config.versions[kind] ?? '', r.nonce, this.#nackMessage(kind, r.versionInfo, errors));
      this.#opts.onNack?.(kind, errors);
      return;
    }
    this.#whenPrepared(
      kind,
      accepted,
      r.versionInfo,
      () => {
        this.#commit(kind, accepted, r.versionInfo);
        this.#requestSotw(t, names, r.versionInfo, r.nonce);
        this.#followAfter(kind);
        this.#opts.onUpdate?.(this.#config, kind);
      },
      (message) => this.#requestSotw(t, names, this.#config.versions[kind] ?? '', r.nonce, message),
    );
  }

  #onDelta(r: DeltaDiscoveryResponse, loadError?: unknown): void {
    this.#answered();
    const t = r.typeUrl as TypeUrl;
    const kind = KIND[t];
    if (kind) this.#received.set(kind, (this.#received.get(kind) ?? 0) + 1);
    const nack = (message: string) => this.#sendDelta(createMessage(DeltaDiscoveryRequestSchema, { typeUrl: t, responseNonce: r.nonce, errorDetail: errorDetail(message) }));
    if (!kind || !DECODERS[kind]) {
      nack(`type ${r.typeUrl} is not supported by this sidecar`);
      return;
    }
    const { errors, accepted } = loadError !== undefined ? loadFailure(loadError) : this.#decode(t, kind, r.resources.map((x) => ({ name: x.name, any: x.resource })));
    if (errors.length) {
      nack(this.#nackMessage(kind, r.systemVersionInfo, errors));
      this.#opts.onNack?.(kind, errors);
      return;
    }
    this.#whenPrepared(
      kind,
      accepted,
      r.systemVersionInfo,
      () => {
        // Apply the difference to what we hold: upserts, then removals.
        const held = new Map(this.#held.get(t));
        const current = new Map(this.#current(kind));
        for (const x of r.resources) held.set(x.name, x.version);
        for (const [name, v] of accepted) current.set(name, v);
        for (const name of r.removedResources) {
          held.delete(name);
          current.delete(name);
        }
        this.#held.set(t, held);
        this.#commit(kind, current, r.systemVersionInfo || this.#config.versions[kind] || '');
        this.#sendDelta(createMessage(DeltaDiscoveryRequestSchema, { typeUrl: t, responseNonce: r.nonce }));
        this.#followAfter(kind);
        this.#opts.onUpdate?.(this.#config, kind);
      },
      nack,
    );
  }

  #current(kind: ResourceKind): ReadonlyMap<string, unknown> {
    const c = this.#config;
    return kind === 'cluster' ? c.clusters : kind === 'endpoint' ? c.endpoints : kind === 'listener' ? c.listeners : kind === 'secret' ? c.secrets : c.routes;
  }

  #commit(kind: ResourceKind, resources: Map<string, unknown>, version: string): void {
    const next = { ...this.#config, versions: { ...this.#config.versions, [kind]: version } };
    if (kind === 'cluster') next.clusters = resources as Map<string, HeldCluster>;
    else if (kind === 'endpoint') next.endpoints = resources as Map<string, HeldEndpoints>;
    else if (kind === 'listener') next.listeners = resources as Map<string, XdsListener>;
    else if (kind === 'route') next.routes = resources as Map<string, RouteConfiguration>;
    else if (kind === 'secret') next.secrets = resources as Map<string, SidecarSecret>;
    this.#config = next;
  }

  /** Follows references: EDS for EDS clusters, RDS for the listeners' route names. */
  #followAfter(kind: ResourceKind): void {
    const c = this.#config;
    if (kind === 'cluster') {
      this.#follow(TYPE_URL.endpoint, [...c.clusters.values()].flatMap((x) => (x.eds === undefined ? [] : [x.eds])));
    } else if (kind === 'listener') {
      this.#follow(TYPE_URL.route, [...c.listeners.values()].flatMap((l) => (l.kind === 'tcp' ? [] : l.edge ? l.edge.map((e) => e.routeName) : [l.routeName])));
    }
    if (kind === 'cluster' || kind === 'listener') {
      // SDS: the trust bundles the listeners and clusters name.
      const names: string[] = [];
      for (const l of c.listeners.values()) {
        if (l.transport.tls?.caSecret) names.push(l.transport.tls.caSecret);
        if (l.kind === 'http') for (const e of l.edge ?? []) if (e.terminate) names.push(...e.terminate.certificates);
      }
      for (const x of c.clusters.values()) if (x.caSecret) names.push(x.caSecret);
      this.#follow(TYPE_URL.secret, names);
    }
  }

  #follow(t: TypeUrl, names: string[]): void {
    const sorted = [...new Set(names)].sort();
    const old = this.#names.get(t);
    if (old && old.join('\0') === sorted.join('\0')) return;
    this.#names.set(t, sorted);
    if (this.#protocol === 'sotw') {
      this.#requestSotw(t, sorted, this.#config.versions[KIND[t]!] ?? '', this.#nonces.get(t) ?? '');
      return;
    }
    const before = new Set(old);
    const now = new Set(sorted);
    const subscribe = sorted.filter((n) => !before.has(n));
    const unsubscribe = [...before].filter((n) => !now.has(n));
    // The server sends nothing more for names we drop: forget them here.
    if (unsubscribe.length) {
      const kind = KIND[t]!;
      const held = new Map(this.#held.get(t));
      const current = new Map(this.#current(kind));
      for (const n of unsubscribe) {
        held.delete(n);
        current.delete(n);
      }
      this.#held.set(t, held);
      this.#commit(kind, current, this.#config.versions[kind] ?? '');
    }
    if (!subscribe.length && !unsubscribe.length) return;
    this.#sendDelta(createMessage(DeltaDiscoveryRequestSchema, { typeUrl: t, resourceNamesSubscribe: subscribe, resourceNamesUnsubscribe: unsubscribe }));
  }
}

function errorDetail(message: string): DiscoveryRequest['errorDetail'] {
  return createMessage(StatusSchema, { code: 3, message }) as DiscoveryRequest['errorDetail'];
}
