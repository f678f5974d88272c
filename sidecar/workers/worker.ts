/**
 * The worker side of `weft sidecar --workers N`: a worker runs the whole sidecar (its own xDS
 * stream, certificate, listeners and pools) but no admin listener. It tells the primary when its
 * listeners are bound, and answers the primary's admin questions from its own state.
 */
import type { AddressInfo } from 'node:net';
import type { LocalAdmin } from '../admin/server.js';
import type { ExplainRequest } from '../explain/explain.js';
import { isPrimaryMessage, type AdminOp, type WorkerMessage, type WorkerSummary } from './ipc.js';

function send(m: WorkerMessage): void {
  // The channel is gone when the primary died; the 'disconnect' handler drains this worker.
  if (process.connected) process.send?.(m);
}

export function announceListening(nodeId: string, outbound: AddressInfo, inbound: AddressInfo): void {
  send({ t: 'weft:listening', nodeId, outbound: { address: outbound.address, port: outbound.port }, inbound: { address: inbound.address, port: inbound.port } });
}

/** Answers the primary's admin requests from this worker's admin view. */
export function serveWorkerAdmin(admin: LocalAdmin, summary: () => WorkerSummary): void {
  const answer = (op: AdminOp, arg: string): Promise<unknown> => {
    switch (op) {
      case 'ready':
        return admin.ready();
      case 'config_dump':
        return admin.configDump();
      case 'clusters':
        return admin.clusters();
      case 'metrics':
        return admin.metricsJson();
      case 'summary':
        return Promise.resolve(summary());
      case 'explain': {
        const { listener, req } = JSON.parse(arg) as { listener: string; req: ExplainRequest };
        return admin.explain!(listener, req);
      }
    }
  };
  process.on('message', (m: unknown) => {
    if (!isPrimaryMessage(m)) return;
    answer(m.op, m.arg ?? '').then(
      (value) => send({ t: 'weft:admin-reply', seq: m.seq, ok: true, value }),
      (e: Error) => send({ t: 'weft:admin-reply', seq: m.seq, ok: false, error: e.message }),
    );
  });
}
