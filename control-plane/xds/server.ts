/**
 * The xDS v3 ADS server: envoy.service.discovery.v3.AggregatedDiscoveryService over gRPC, state of
 * the world and delta, serving whatever the SnapshotCache holds for each node. Messages are
 * protobuf-es types; resources are already encoded (Resource.body), so they are never re-encoded.
 */
import * as grpc from '@grpc/grpc-js';
import { silentLogger, type Logger } from '../../common/log.js';
import type { DeltaDiscoveryRequest, DiscoveryRequest } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { adsServiceDefinition } from '../../common/ads-service.js';
import type { ProxyStatusJson } from '../admin/proxy-status.js';
import type { SnapshotCache } from './cache.js';
import { DeltaStream } from './delta.js';
import { SotwStream } from './sotw.js';
import { DEFAULT_PUSH_BUDGET_BYTES, PushThrottle } from './push-throttle.js';
import type { StreamCallbacks, StreamContext } from './stream-base.js';
import type { PeerCertificate } from 'node:tls';
import type { NodeInfo } from './node.js';
import type { StreamStatus, XdsCounters } from './status.js';

export interface XdsServerOptions {
  cache: SnapshotCache;
  callbacks?: StreamCallbacks;
  logger?: Logger;
  /** Offer incremental xDS (DeltaAggregatedResources); default true. Without it, delta calls end UNIMPLEMENTED. */
  delta?: boolean;
  /** Streams on a server bound with `secure`: who may open them (see IdentityServer.authorizeXds). */
  authorize?: (node: NodeInfo, peer: PeerCertificate | undefined) => { peerId?: string } | { error: string };
  /** Told the push → ACK/NACK latency of every response (metrics). */
  onReply?: (kind: string, result: 'ack' | 'nack', seconds: number) => void;
  /**
   * Bytes of responses queued for writing at once, over all streams (default 8 MiB): the main
   * bound on memory when many proxies need large responses together. See push-throttle.ts.
   */
  pushBudgetBytes?: number;
}

export class XdsServer {
  readonly #ctx: StreamContext;
  readonly #delta: boolean;
  readonly #authorize: XdsServerOptions['authorize'];
  readonly #servers: grpc.Server[] = [];

  constructor(opts: XdsServerOptions) {
    this.#delta = opts.delta ?? true;
    this.#authorize = opts.authorize;
    this.#ctx = {
      cache: opts.cache,
      callbacks: opts.callbacks ?? {},
      counters: { connectedStreams: 0, pushes: 0, acks: 0, nacks: 0, byKind: new Map(), ...(opts.onReply ? { onReply: opts.onReply } : {}) },
      logger: opts.logger ?? silentLogger,
      streams: new Set<StreamStatus>(),
      throttle: new PushThrottle({ maxQueuedBytes: opts.pushBudgetBytes ?? DEFAULT_PUSH_BUDGET_BYTES }),
    };
  }

  /**
   * Adds the ADS service to a grpc.Server the caller owns (to share a port with other services).
   * `secure`: the server is the TLS port, whose streams go through `authorize`.
   */
  bind(server: grpc.Server, secure = false): void {
    const auth = this.#authorize;
    const ctx: StreamContext = secure && auth
      ? { ...this.#ctx, callbacks: { ...this.#ctx.callbacks, authorize: (node, call) => auth(node, call.getAuthContext()?.sslPeerCertificate as PeerCertificate | undefined) } }
      : this.#ctx;
    // Responses are pre-encoded (wire.ts): both handlers write Buffers.
    const sotw = (call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>) => {
      new SotwStream(ctx, call, 'sotw');
    };
    if (!this.#delta) {
      server.addService({ StreamAggregatedResources: adsServiceDefinition.StreamAggregatedResources }, { StreamAggregatedResources: sotw });
      return;
    }
    server.addService(adsServiceDefinition, {
      StreamAggregatedResources: sotw,
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, Buffer>) => {
        new DeltaStream(ctx, call, 'delta');
      },
    });
  }

  /** Starts a gRPC server for ADS on `address` ('127.0.0.1:0' picks a port); resolves the port. */
  listen(address: string, credentials: grpc.ServerCredentials, extra?: (server: grpc.Server) => void): Promise<number> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const secure = credentials._isSecure();
    this.bind(server, secure);
    extra?.(server);
    this.#servers.push(server);
    return new Promise((resolve, reject) => {
      server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
    });
  }

  /** Sync status of every open stream (one entry per stream; a node may hold several). */
  status(): ProxyStatusJson[] {
    return [...this.#ctx.streams].map((s) => s.toJSON()).sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
  }

  counters(): Readonly<XdsCounters> {
    return this.#ctx.counters;
  }

  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => this.#closeOne(s)));
  }

  #closeOne(s: grpc.Server): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        s.forceShutdown();
        resolve();
      }, 2000);
      s.tryShutdown(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}
