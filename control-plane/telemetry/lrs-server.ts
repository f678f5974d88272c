/**
 * The LRS server (envoy.service.load_stats.v3.LoadReportingService/StreamLoadStats) on the xDS
 * ports: answers a stream's first message with the reporting interval (all clusters), then files
 * every report in the LoadStore. On the TLS port the stream must present a workload certificate
 * that matches the Node, exactly like ADS.
 */
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import type { PeerCertificate } from 'node:tls';
import type { Logger } from '../../common/log.js';
import { lrsServiceDefinition } from '../../common/lrs-service.js';
import { LoadStatsResponseSchema, type LoadStatsRequest, type LoadStatsResponse } from '../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { nodeInfoFromProto, type NodeInfo } from '../xds/node.js';
import type { LoadStore } from './load-store.js';

export interface LrsServerOptions {
  store: LoadStore;
  intervalMs: number;
  logger: Logger;
  authorize?: (node: NodeInfo, peer: PeerCertificate | undefined) => { peerId?: string } | { error: string };
}

export class LrsServer {
  /** Open load-report streams (a metric). */
  streams = 0;
  constructor(private readonly o: LrsServerOptions) {}

  bind(server: grpc.Server, secure: boolean): void {
    server.addService(lrsServiceDefinition, {
      StreamLoadStats: (call: grpc.ServerDuplexStream<LoadStatsRequest, LoadStatsResponse>) => this.#stream(call, secure),
    });
  }

  #stream(call: grpc.ServerDuplexStream<LoadStatsRequest, LoadStatsResponse>, secure: boolean): void {
    let node: NodeInfo | undefined;
    let last = Date.now();
    this.streams++;
    let open = true;
    const done = () => {
      if (open) this.streams--;
      open = false;
    };
    call.on('error', done);
    call.on('close', done);
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('data', (req: LoadStatsRequest) => {
      if (!node) {
        if (!req.node?.id) {
          call.destroy(Object.assign(new Error('the first LoadStatsRequest must carry the node'), { code: grpc.status.INVALID_ARGUMENT }));
          return;
        }
        const info = nodeInfoFromProto(req.node);
        if (secure && this.o.authorize) {
          const a = this.o.authorize(info, call.getAuthContext()?.sslPeerCertificate as PeerCertificate | undefined);
          if ('error' in a) {
            call.destroy(Object.assign(new Error(a.error), { code: grpc.status.PERMISSION_DENIED }));
            return;
          }
        }
        node = info;
        const ms = this.o.intervalMs;
        call.write(create(LoadStatsResponseSchema, { sendAllClusters: true, loadReportingInterval: { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 } }));
        last = Date.now();
        if (!req.clusterStats.length) return;
      }
      const now = Date.now();
      this.o.store.record(node.id, { service: node.service, namespace: node.namespace }, req, now - last, now);
      last = now;
    });
  }
}
