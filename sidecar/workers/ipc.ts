/**
 * The messages between a `--workers N` primary and its workers over the cluster IPC channel, and
 * what a worker is told at fork time (environment). Messages are JSON; each carries `t` and is
 * checked with `isWorkerMessage` / `isPrimaryMessage` before use (other modules, such as
 * prom-client, share the channel with their own messages).
 */

/** Environment a worker is forked with (the primary resolved these once for all workers). */
export const WORKER_ENV = {
  /** 1..N; a restarted worker keeps its index. */
  index: 'WEFT_WORKER_INDEX',
  /** The sidecar's node id; worker k connects as `<id>~w<k>`. */
  baseId: 'WEFT_WORKER_BASE_ID',
  /** The join token, read once by the primary (the token file may be gone by a restart). */
  token: 'WEFT_WORKER_JOIN_TOKEN',
} as const;

/**
 * This process is a worker our primary forked (cluster.fork() with WORKER_ENV and an IPC
 * channel), read without loading node:cluster, which a single-process sidecar never needs.
 * (`'NODE_UNIQUE_ID' in process.env`, Node's own test, cannot be used: Node deletes that variable
 * before user code runs.)
 */
export const IS_CLUSTER_WORKER = process.env[WORKER_ENV.index] !== undefined && process.channel !== undefined;

/** What the primary asks a worker's admin view for. */
export type AdminOp = 'ready' | 'config_dump' | 'clusters' | 'metrics' | 'summary' | 'explain';
const ADMIN_OPS: ReadonlySet<string> = new Set<AdminOp>(['ready', 'config_dump', 'clusters', 'metrics', 'summary', 'explain']);

/** A worker's counters for `/workers` (the primary's admin): who served what. */
export interface WorkerSummary {
  pid: number;
  nodeId: string;
  ready: boolean;
  xdsConnected: boolean;
  /** Downstream requests and connections, all listeners, since the worker started. */
  requests: number;
  connections: number;
}

/** `arg`: `/explain`'s listener and request, as JSON. */
export type PrimaryMessage = { t: 'weft:admin'; seq: number; op: AdminOp; arg?: string };

export type WorkerMessage =
  | { t: 'weft:listening'; nodeId: string; outbound: { address: string; port: number }; inbound: { address: string; port: number } }
  | { t: 'weft:admin-reply'; seq: number; ok: true; value: unknown }
  | { t: 'weft:admin-reply'; seq: number; ok: false; error: string };

const isObj = (m: unknown): m is Record<string, unknown> => typeof m === 'object' && m !== null;

export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return isObj(m) && m.t === 'weft:admin' && typeof m.seq === 'number' && typeof m.op === 'string' && ADMIN_OPS.has(m.op) && (m.arg === undefined || typeof m.arg === 'string');
}

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  if (!isObj(m)) return false;
  if (m.t === 'weft:listening') return typeof m.nodeId === 'string' && isObj(m.outbound) && isObj(m.inbound);
  return m.t === 'weft:admin-reply' && typeof m.seq === 'number' && typeof m.ok === 'boolean';
}

/** The worker's identity when this process is a `--workers N` worker, from its environment. */
export interface WorkerLink {
  index: number;
  baseId: string;
  /** Undefined when the primary had none (renewals only, as for a single process). */
  token: string | undefined;
}

export function workerLinkFromEnv(env: NodeJS.ProcessEnv): WorkerLink {
  const index = Number(env[WORKER_ENV.index]);
  const baseId = env[WORKER_ENV.baseId];
  if (!Number.isInteger(index) || index < 1 || !baseId) throw new Error(`a sidecar worker needs ${WORKER_ENV.index} and ${WORKER_ENV.baseId} from its primary`);
  return { index, baseId, token: env[WORKER_ENV.token] || undefined };
}

/** The xDS node id of worker `index`: distinct per worker, so each stream, load report and certificate is its own. */
export function workerNodeId(baseId: string, index: number): string {
  return `${baseId}~w${index}`;
}
