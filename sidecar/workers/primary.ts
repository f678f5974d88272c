/**
 * The primary of `weft sidecar --workers N`: forks N workers with node:cluster (Node 20 has no
 * SO_REUSEPORT), each a whole sidecar sharing the outbound and inbound listeners, and owns what
 * must exist once per sidecar: the admin listener (answered from every worker over IPC), the
 * ready line, signals, and restarts.
 *
 * Lifecycle: SIGTERM/SIGINT drains every worker (each runs the single-process drain: leave the
 * registry, Connection: close, finish in-flight requests) and exits 0 when all have exited. A
 * worker that dies is forked again with exponential backoff (0.5 s doubling, at most 30 s); a
 * worker slot that dies MAX_START_FAILURES times in a row before it has run STABLE_MS makes the
 * primary drain the rest and exit 1, so a supervisor (systemd, Kubernetes) sees the crash loop
 * instead of a gateway quietly running on fewer cores. A worker that exits 2 (bad usage) is fatal
 * at once.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../../common/log.js';
import { Metrics } from '../../common/prometheus.js';
import { AggregatorRegistry } from 'prom-client';
import { serveAdmin, type AdminReady, type AdminSource } from '../admin/server.js';
import { isWorkerMessage, WORKER_ENV, workerNodeId, type AdminOp, type WorkerMessage, type WorkerSummary } from './ipc.js';

export interface PrimaryOptions {
  workers: number;
  /** The sidecar's node id; workers connect as `<baseId>~w<k>`. */
  baseId: string;
  token: string | undefined;
  adminHost: string;
  adminPort: number;
  /** After SIGTERM, how long workers get (drain delay + drain timeout + margin) before SIGKILL. */
  drainBudgetMs: number;
  logger: Logger;
}

const MAX_START_FAILURES = 5;
const STABLE_MS = 10_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const ASK_TIMEOUT_MS = 2000;

type SlotState = 'starting' | 'listening' | 'backoff' | 'exited';

interface Slot {
  readonly index: number;
  readonly nodeId: string;
  worker: Worker | undefined;
  state: SlotState;
  /** Consecutive deaths before running STABLE_MS. */
  failures: number;
  restarts: number;
  listeningAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
}

export async function runPrimary(o: PrimaryOptions): Promise<void> {
  const log = o.logger;
  // Scheduling: see chooseSchedulingPolicy. NODE_CLUSTER_SCHED_POLICY (rr | none) overrides, as in Node.
  if (!process.env.NODE_CLUSTER_SCHED_POLICY) cluster.schedulingPolicy = chooseSchedulingPolicy();
  const slots: Slot[] = Array.from({ length: o.workers }, (_, i) => ({
    index: i + 1,
    nodeId: workerNodeId(o.baseId, i + 1),
    worker: undefined,
    state: 'starting' as SlotState,
    failures: 0,
    restarts: 0,
    listeningAt: undefined,
    timer: undefined,
  }));
  let stopping = false;
  let exitCode = 0;
  let announced = false;
  let listening: Extract<WorkerMessage, { t: 'weft:listening' }> | undefined;
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let admin: Awaited<ReturnType<typeof serveAdmin>> | undefined;

  const finish = () => {
    if (slots.some((s) => s.state !== 'exited')) return;
    log.info({ exitCode }, 'every worker has exited');
    admin?.server.close();
    process.exit(exitCode);
  };

  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ why, workers: slots.filter((s) => s.worker).length }, 'draining the workers');
    for (const s of slots) {
      clearTimeout(s.timer);
      if (s.worker && !s.worker.isDead()) s.worker.process.kill('SIGTERM');
      else s.state = 'exited';
    }
    setTimeout(() => {
      for (const s of slots) if (s.worker && !s.worker.isDead()) {
        log.warn({ worker: s.index, workerPid: s.worker.process.pid }, 'worker did not drain in time; killing it');
        s.worker.process.kill('SIGKILL');
      }
    }, o.drainBudgetMs).unref();
    finish();
  };

  const fork = (s: Slot) => {
    s.state = 'starting';
    s.listeningAt = undefined;
    const w = cluster.fork({ [WORKER_ENV.index]: String(s.index), [WORKER_ENV.baseId]: o.baseId, [WORKER_ENV.token]: o.token ?? '' });
    s.worker = w;
    w.on('message', (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      if (m.t === 'weft:listening') {
        s.state = 'listening';
        s.listeningAt = Date.now();
        listening ??= m;
        if (!announced && slots.every((x) => x.state === 'listening')) void announce();
        return;
      }
      const p = pending.get(m.seq);
      if (!p) return;
      pending.delete(m.seq);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`worker ${s.index}: ${m.error}`));
    });
    w.on('exit', (code, signal) => {
      if (s.worker !== w) return;
      s.worker = undefined;
      if (stopping) {
        if (code !== 0) exitCode = 1;
        s.state = 'exited';
        finish();
        return;
      }
      const stable = s.listeningAt !== undefined && Date.now() - s.listeningAt >= STABLE_MS;
      s.failures = stable ? 1 : s.failures + 1;
      if (code === 2 || s.failures >= MAX_START_FAILURES) {
        log.error({ worker: s.index, code, signal, failures: s.failures }, code === 2 ? 'worker refused its arguments' : 'worker keeps crashing at start; giving up');
        exitCode = 1;
        s.state = 'exited';
        stop('worker crash loop');
        return;
      }
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (s.failures - 1));
      log.warn({ worker: s.index, workerPid: w.process.pid, code, signal, restartInMs: delay }, 'worker exited; restarting it');
      s.state = 'backoff';
      s.timer = setTimeout(() => {
        s.restarts++;
        fork(s);
      }, delay);
    });
  };

  const ask = (s: Slot, op: AdminOp, arg?: string): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const w = s.worker;
      if (!w || s.state !== 'listening' || !w.isConnected()) return reject(new Error(`worker ${s.index} is ${s.state}`));
      const id = ++seq;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`worker ${s.index} did not answer in ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      pending.set(id, { resolve, reject, timer });
      w.send({ t: 'weft:admin', seq: id, op, ...(arg === undefined ? {} : { arg }) });
    });

  const first = (): Slot => {
    const s = slots.find((x) => x.state === 'listening');
    if (!s) throw new Error('no worker is running');
    return s;
  };

  const own = new Metrics({ defaultMetrics: false });
  own.pull('gauge', 'weft_workers', 'Worker processes of a --workers N sidecar, by state (starting, listening, backoff, exited).', ['state'], () =>
    (['starting', 'listening', 'backoff', 'exited'] as const).map((st) => [{ state: st }, slots.filter((s) => s.state === st).length] as const),
  );
  own.pull('counter', 'weft_worker_restarts_total', 'Workers forked again after one exited.', [], () => [[{}, slots.reduce((n, s) => n + s.restarts, 0)]]);

  const source: AdminSource = {
    async ready(): Promise<AdminReady> {
      if (stopping) return { ok: false, text: 'DRAINING' };
      const r = await Promise.allSettled(slots.map((s) => ask(s, 'ready') as Promise<AdminReady>));
      const why = r.flatMap((x, i) => (x.status === 'rejected' ? [x.reason instanceof Error ? x.reason.message : String(x.reason)] : x.value.ok ? [] : [`worker ${i + 1}: ${x.value.text}`]));
      return why.length ? { ok: false, text: `NOT READY: ${why.join('; ')}` } : { ok: true, text: 'LIVE' };
    },
    // Config and clusters come from the first running worker (node id <id>~w1 normally): every
    // worker applies the same pushes, while per-host counters are that worker's share only.
    configDump: async () => ask(first(), 'config_dump'),
    clusters: async () => ask(first(), 'clusters'),
    explain: async (listener, req) => ask(first(), 'explain', JSON.stringify({ listener, req })),
    async metrics() {
      const answers = await Promise.allSettled(slots.map((s) => ask(s, 'metrics')));
      const perWorker = answers.flatMap((a) => (a.status === 'fulfilled' && Array.isArray(a.value) ? [a.value as object[]] : []));
      const merged = AggregatorRegistry.aggregate(perWorker);
      return { text: `${await merged.metrics()}\n${await own.text()}`, contentType: merged.contentType };
    },
    extra: {
      '/workers': async () => {
        const sums = await Promise.allSettled(slots.map((s) => ask(s, 'summary') as Promise<WorkerSummary>));
        return slots.map((s, i) => {
          const r = sums[i]!;
          return { index: s.index, nodeId: s.nodeId, state: s.state, pid: s.worker?.process.pid ?? null, restarts: s.restarts, ...(r.status === 'fulfilled' ? { stats: r.value } : {}) };
        });
      },
    },
  };

  const announce = async () => {
    announced = true;
    const l = listening!;
    process.stdout.write(`ready id=${o.baseId} outbound=${l.outbound.address}:${l.outbound.port} inbound=${l.inbound.address}:${l.inbound.port} admin=${admin!.address.address}:${admin!.address.port} workers=${o.workers} pid=${process.pid}\n`);
    log.info({ workers: o.workers, outbound: l.outbound.port, inbound: l.inbound.port, admin: admin!.address.port, scheduling: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none' }, 'sidecar listening');
  };

  try {
    admin = await serveAdmin(o.adminHost, o.adminPort, source);
  } catch (e) {
    process.stderr.write(`weft sidecar: cannot listen: ${(e as Error).message}\n`);
    process.exitCode = 1;
    return;
  }
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  for (const s of slots) fork(s);
}

/**
 * How connections reach workers. SCHED_RR (Node's default on Linux): the primary accepts every
 * connection and hands it to a worker in turn, so connections spread evenly, at the cost of one
 * more process on the accept path. SCHED_NONE: every worker accepts on the shared socket and the
 * kernel wakes whichever it likes, which can pile connections onto one worker. The gateway's load
 * is long-lived keep-alive connections, so the accept cost is paid once per connection while an
 * unbalanced split costs throughput for the connection's life. bench/weft-workers.sh, 2 workers,
 * wrk -c50 on this 2-core VM: rr 17.4k req/s, p99 36 ms, 41 us CPU/req; none 15.1k req/s, p99
 * 77 ms, 46 us CPU/req. So rr, whatever Node's platform default is (it is none on Windows).
 */
function chooseSchedulingPolicy(): number {
  return cluster.SCHED_RR;
}
