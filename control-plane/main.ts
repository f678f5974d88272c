/**
 * The control-plane daemon: loads the store, serves xDS (gRPC) and the admin API (HTTP/JSON), and
 * shuts down cleanly on SIGTERM/SIGINT. Prints one `ready` line on stdout with the bound addresses,
 * which is what scripts and tests wait for (port 0 picks free ports).
 */
import { ServerCredentials } from '@grpc/grpc-js';
import { join } from 'node:path';
import { createLogger, type Logger } from '../common/log.js';
import { validateStoredResource } from './config/index.js';
import { ControlPlane } from './control-plane.js';
import { FileStore } from './store/file-store.js';
import { AdminServer } from './admin/server.js';
import { loadOrCreateToken, TOKEN_FILE } from './admin/token.js';
import { XdsServer } from './xds/server.js';
import { renderMetrics } from './admin/metrics.js';

export interface ControlPlaneDaemonOptions {
  dataDir: string;
  /** host:port for xDS (gRPC, plaintext for now: bind it to loopback). */
  xdsAddress: string;
  /** host:port for the admin API. */
  adminAddress: string;
  registryGraceMs: number;
  logger?: Logger;
}

export interface RunningControlPlane {
  xdsPort: number;
  adminPort: number;
  token: string;
  /** The in-process control plane (embedding, and tests that script what it serves). */
  controlPlane: ControlPlane;
  stop(): Promise<void>;
}

export function splitHostPort(addr: string, flag: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  if (!m || Number(m[2]) > 65535) throw new Error(`${flag}: want HOST:PORT (e.g. 127.0.0.1:15010), got '${addr}'`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

export async function startControlPlane(opts: ControlPlaneDaemonOptions): Promise<RunningControlPlane> {
  const log = opts.logger ?? createLogger('weft-control-plane');
  const xdsAddr = splitHostPort(opts.xdsAddress, '--xds-address');
  const adminAddr = splitHostPort(opts.adminAddress, '--admin-address');
  const store = new FileStore(opts.dataDir, validateStoredResource);
  const cp = new ControlPlane({ store, logger: log.child({ component: 'core' }), registryGraceMs: opts.registryGraceMs, registryFile: join(opts.dataDir, 'registry.json') });
  await cp.start();
  const token = await loadOrCreateToken(opts.dataDir);

  const xds = new XdsServer({
    cache: cp.cache,
    logger: log.child({ component: 'xds' }),
    callbacks: {
      onStreamOpen: (node) => cp.streamOpened(node),
      onStreamClose: (node, leaving) => cp.streamClosed(node, leaving),
      onDraining: (node) => cp.registry.remove(node.id),
    },
  });
  const host = xdsAddr.host.includes(':') ? `[${xdsAddr.host}]` : xdsAddr.host;
  const xdsPort = await xds.listen(`${host}:${xdsAddr.port}`, ServerCredentials.createInsecure());

  const admin = new AdminServer({
    controlPlane: cp,
    token,
    proxyStatus: () => xds.status(),
    metrics: () => renderMetrics(cp, xds),
    logger: log.child({ component: 'admin' }),
  });
  const adminPort = await admin.listen(adminAddr.port, adminAddr.host);
  log.info({ xds: `${xdsAddr.host}:${xdsPort}`, admin: `${adminAddr.host}:${adminPort}`, dataDir: opts.dataDir, tokenFile: join(opts.dataDir, TOKEN_FILE) }, 'control plane ready');

  let stopping: Promise<void> | undefined;
  return {
    xdsPort,
    adminPort,
    token,
    controlPlane: cp,
    stop() {
      stopping ??= (async () => {
        await admin.close();
        await xds.close();
        await cp.close();
      })();
      return stopping;
    },
  };
}
