/**
 * Control-plane replicas on etcd and mesh instances, each on a host of a network-namespace lab
 * (netns.ts): what test/e2e/replicas-netns.test.ts and `make demo-ha` (deploy/demo-ha/run.ts)
 * both run. Replicas listen on fixed ports inside their hosts (xDS :15010, admin :15014);
 * sidecars know every replica (`--control-plane ip1:15010,ip2:15010,ip3:15010`). The test process
 * sits outside the lab, so admin calls go through an agent inside it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EtcdCluster } from './etcd.js';
import type { Agent, Host, LabProcess } from './netns.js';
import { ROOT, WEFT } from './processes.js';

export const LAB_XDS_PORT = 15010;
export const LAB_ADMIN_PORT = 15014;

export interface LabProxy {
  nodeId: string;
  service?: string;
  replica?: string;
  types: Record<string, { state: string; ackedVersion?: string }>;
}
export interface LabReplica {
  name: string;
  revision: number;
  leader: boolean;
  healthy: boolean;
  self: boolean;
}
export interface LabCp {
  name: string;
  host: Host;
  proc: LabProcess;
  dataDir: string;
}

export interface ReplicaLabOptions {
  etcd: () => EtcdCluster;
  /** The key-encryption key file every replica is given. */
  kekFile: () => string;
  /** An agent inside the lab: admin calls go through it. */
  agent: () => Agent;
  /** A fresh directory for a data dir or a token file. */
  dir: (prefix: string) => string;
  logLevel: string;
  /** How long a replica or a sidecar may take to print its ready line. */
  readyMs: number;
  /** How long a test app may take to print its line (default: waitLine's). */
  appReadyMs?: number;
}

export class ReplicaLab {
  readonly cps = new Map<string, LabCp>();
  /** The admin token every replica shares (set once the first replica is up). */
  token = '';
  /** `--control-plane` for sidecars: every replica's xDS address (set once replicas are placed). */
  list = '';

  constructor(private readonly o: ReplicaLabOptions) {}

  async admin<T>(cp: LabCp, method: string, path: string, body?: unknown, timeoutMs = 5000): Promise<{ status: number; body: T }> {
    const r = await this.o.agent().http({ method, url: `http://${cp.host.ip}:${LAB_ADMIN_PORT}${path}`, headers: { authorization: `Bearer ${this.token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}), timeoutMs });
    return { status: r.status, body: JSON.parse(r.body || '{}') as T };
  }

  apply(cp: LabCp, yaml: string, timeoutMs = 5000): Promise<{ status: number; body: { revision?: number; code?: string; message?: string } }> {
    return this.admin(cp, 'POST', '/v1/apply', { files: [{ name: 'a.yaml', content: yaml }] }, timeoutMs);
  }

  async proxies(cp: LabCp, local = false): Promise<LabProxy[]> {
    return (await this.admin<{ items: LabProxy[] }>(cp, 'GET', `/v1/proxies${local ? '?local=1' : ''}`)).body.items ?? [];
  }

  async replicas(cp: LabCp, timeoutMs = 5000): Promise<LabReplica[]> {
    return (await this.admin<{ items: LabReplica[] }>(cp, 'GET', '/v1/replicas', undefined, timeoutMs)).body.items ?? [];
  }

  alive(): LabCp[] {
    return [...this.cps.values()].filter((c) => c.proc.running());
  }

  /** Sets `list` from the replicas' hosts. */
  placeReplicas(hosts: readonly Host[]): void {
    this.list = hosts.map((h) => `${h.ip}:${LAB_XDS_PORT}`).join(',');
  }

  /** A replica on `host`, on etcd, named `name` (again after a kill: same name, new data dir). */
  async startReplica(name: string, host: Host): Promise<LabCp> {
    const dataDir = this.o.dir(`weft-${name}-`);
    const proc = host.spawn(process.execPath, [
      WEFT, 'control-plane', '--data-dir', dataDir, '--store', `etcd://${this.o.etcd().endpoints}`, '--ca-kek-file', this.o.kekFile(), '--replica-name', name, '--advertise-host', host.ip,
      '--xds-address', `0.0.0.0:${LAB_XDS_PORT}`, '--admin-address', `0.0.0.0:${LAB_ADMIN_PORT}`, '--otlp-address', 'off', '--load-report-interval', '1s', '--log-level', this.o.logLevel,
    ]);
    await proc.waitLine(/ready xds=/, this.o.readyMs);
    const cp = { name, host, proc, dataDir };
    this.cps.set(name, cp);
    return cp;
  }

  /** An HTTP test app and its sidecar on `host`, joining with a token from the first replica. */
  async startInstance(host: Host, service: string, name: string): Promise<{ app: LabProcess; sidecar: LabProcess; appPort: string }> {
    const app = host.spawn(process.execPath, [join(ROOT, 'test/harness/http-app.mjs'), name, '0']);
    const appPort = (await app.waitLine(/listening (\d+)/, this.o.appReadyMs))[1]!;
    const tok = (await this.admin<{ token: string }>([...this.cps.values()][0]!, 'POST', '/v1/tokens', { service, namespace: 'default', ttlSeconds: 3600 })).body.token;
    const file = join(this.o.dir('weft-token-'), 'token');
    writeFileSync(file, tok, { mode: 0o600 });
    const sidecar = host.spawn(process.execPath, [
      WEFT, 'sidecar', '--service', service, '--app-port', appPort, '--control-plane', this.list, '--token-file', file, '--instance-ip', host.ip,
      '--outbound-port', '15001', '--inbound-port', '15006', '--inbound-address', '0.0.0.0', '--admin-port', '15000', '--drain-delay', '300ms',
    ], { env: { WEFT_LOG_LEVEL: this.o.logLevel } });
    await sidecar.waitLine(/ready id=/, this.o.readyMs);
    return { app, sidecar, appPort };
  }
}
