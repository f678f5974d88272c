/**
 * The admin HTTP/JSON API the CLI (and later a dashboard) uses. Every route but /healthz needs the
 * bearer token. Errors are WeftErrors rendered as `{code, message, details}` in one place.
 *
 *   POST   /v1/apply?dryRun=1&ifRevision=N  {files: [{name, content}]}  -> ApplyResult | 422 {details} | 413 | 409
 *   GET    /v1/resources[?kind=&namespace=&name=]                  -> {revision, items: MeshResource[], summaries: {KEY: text}}
 *   DELETE /v1/resources/{kind}/{namespace}/{name}                 -> {revision, deleted}
 *   POST   /v1/delete {keys: ['KIND/NAMESPACE/NAME', ...], ignoreNotFound?} -> {revision, deleted, notFound?} (all or none)
 *   GET    /v1/proxies                                              -> {items: ProxyStatus[], replicas?: true, unreachable?}
 *   GET    /v1/replicas                                             -> {items: ReplicaView[]}
 *   GET    /v1/proxies/{id}/config[?type=cluster]                   -> {nodeId, resources}
 *   POST   /v1/tokens {service, namespace?, ttlSeconds?}             -> {token, info, warnings?}
 *   GET    /v1/tokens                                               -> {items: TokenInfo[]}
 *   DELETE /v1/tokens/{id}                                          -> {info}
 *   GET    /v1/ca                                                   -> roots, rotation phase
 *   POST   /v1/ca/rotate                                            -> 202, rotation runs
 *   GET    /v1/proxies/{id}/secrets                                 -> certificates (never keys)
 *   GET    /v1/traces[?service=&minDurationMs=&errors=1&limit=]    -> {items: TraceSummary[]}
 *   GET    /v1/traces/{traceId}                                    -> {summary, spans}
 *   GET    /v1/stats[?windowMs=&direction=inbound|outbound|gateway&service=&by=consumer]  -> {items: StatRow[] | ConsumerStatRow[]}
 *   GET    /healthz, /metrics
 *   GET    /dashboard/ (static, no auth), POST /v1/login {token}, POST /v1/logout; and the dashboard's
 *          reads: /v1/graph, /v1/history, /v1/resources/{kind}/{ns}/{name}[/proxies] (dashboard/api.ts)
 *
 * The dashboard's session cookie (dashboard/session.ts) is accepted instead of the bearer token;
 * with it, a request other than GET needs `x-weft-csrf: 1`.
 *
 * Client input is decoded where it can fail, and each failure is a 4xx naming what was wrong: a
 * malformed URL or percent-encoding 400, a body over MAX_BODY 413, and applies are parsed and
 * validated off the event loop (ApplyDecoder) within the limits of docs/admin-api.md#limits.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WeftError, isWeftError, type ErrorCode } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { type Kind, type ResourceKey } from '../config/types.js';
import { KINDS } from '../config/model.js';
import { kindDefinition, presentResource } from '../config/kinds/index.js';
import { resourceKey } from '../config/resource-key.js';
import { certificateNames, pemCertificates } from '../config/kinds/secret.js';
import type { ControlPlane } from '../control-plane.js';
import { tokenMatches } from './token.js';
import { booleanParam } from './query.js';
import { ApplyDecoder, type ApplyDecoderOptions } from './apply-decoder.js';
import { sendResourceList } from './resource-list.js';
import { TYPE_URL, type ResourceKind } from '../../common/xds-types.js';
import { CaError, type CertificateAuthority } from '../ca/ca.js';
import type { JoinTokens } from '../ca/tokens.js';
import type { IssuedRecord } from '../ca/service.js';
import type { RootRotation } from '../ca/rotation.js';
import type { ReplicaView } from '../replicas.js';
import { askPeers, replicaAnswerHeaders, verifyReplicaRequest, type PeerAnswer, type ReplicaAuth } from './fan-out.js';
import { LoadStore, type ExportedLoad } from '../telemetry/load-store.js';
import { TraceStore, type StoredSpan, type TraceSummary } from '../telemetry/trace-store.js';
import { identityWarning } from '../config/warnings.js';
import { DashboardFiles } from '../dashboard/serve.js';
import { Sessions, CSRF_HEADER } from '../dashboard/session.js';
import { ApplyHistory } from '../dashboard/history.js';
import { DashboardApi, windowOf } from '../dashboard/api.js';
import type { AffectedProxy, HistoryEntry } from '../dashboard/wire.js';

/** Largest request body (an apply's JSON): 16 MiB, several times a 20,000-document configuration. */
export const MAX_BODY = 16 * 1024 * 1024;

export interface AdminDeps {
  controlPlane: ControlPlane;
  token: string;
  /** Per-proxy xDS sync status, from the xDS server. */
  proxyStatus: () => unknown[];
  /** Prometheus text exposition. */
  metrics: () => Promise<string>;
  /** Load reports from sidecars (LRS), for /v1/stats. */
  loads?: LoadStore;
  logger?: Logger;
  identity?: {
    ca: CertificateAuthority;
    tokens: JoinTokens;
    issued: ReadonlyMap<string, IssuedRecord>;
    rotation: RootRotation;
    counters: { issued: number; refused: number };
  };
  /** The embedded trace store (OTLP receiver). */
  traces?: TraceStore;
  /** Live control-plane replicas (one, this, on the file store). */
  replicas?: () => ReplicaView[];
  /** Replicas on etcd: how replicas authenticate their fan-out requests to each other. */
  replicaAuth?: ReplicaAuth;
  /** Limits of the off-loop apply decoder (tests lower them). */
  decoder?: ApplyDecoderOptions;
  /** Where the dashboard's built files are (default: dist/dashboard). */
  dashboardDir?: string;
}

/** Replicas that did not answer a fan-out, by name, with why (absent when all answered). */
function unreachable(answers: ReadonlyArray<PeerAnswer<unknown>>): { unreachable?: Record<string, string> } {
  const bad = answers.filter((a) => a.error);
  return bad.length ? { unreachable: Object.fromEntries(bad.map((a) => [a.replica, a.error!])) } : {};
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const STATUS: Partial<Record<ErrorCode, number>> = {
  CONFIG_INVALID: 422,
  CONFIG_PARSE: 422,
  CONFIG_NOT_FOUND: 404,
  CONFIG_CONFLICT: 409,
  STORE_UNAVAILABLE: 503,
  STORE_LIMIT: 413,
  ADMIN_UNAUTHORIZED: 401,
  ADMIN_BAD_REQUEST: 400,
  ADMIN_NOT_FOUND: 404,
  REQUEST_TOO_LARGE: 413,
};

export class AdminServer {
  readonly #deps: AdminDeps;
  readonly #log: Logger;
  readonly #server: Server;
  readonly #decoder: ApplyDecoder;
  readonly #files: DashboardFiles;
  readonly #sessions: Sessions;
  readonly #history = new ApplyHistory();
  readonly #dashboard: DashboardApi;

  constructor(deps: AdminDeps) {
    this.#deps = deps;
    this.#log = deps.logger ?? silentLogger;
    this.#decoder = new ApplyDecoder(deps.decoder);
    this.#files = new DashboardFiles(deps.dashboardDir);
    this.#sessions = new Sessions(deps.token);
    const loads = deps.loads;
    this.#dashboard = new DashboardApi({ controlPlane: deps.controlPlane, history: this.#history, ...(loads ? { loads: (w: number) => this.#mergedLoads(loads, w) } : {}) });
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((e: unknown) => this.#fail(res, e));
    });
  }

  /** Binds and resolves with the bound port (0 picks a free one). */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    await this.#decoder.close();
  }

  /** This replica's name (proxy-status says which replica each proxy is on). */
  #self(): string | undefined {
    return this.#deps.replicas?.().find((x) => x.self)?.name;
  }

  /** The other live replicas (none on one control plane). */
  #peers(): Array<{ name: string; admin: string }> {
    if (!this.#deps.replicaAuth) return [];
    return (this.#deps.replicas?.() ?? []).filter((r) => !r.self);
  }

  /** Every replica's load reports of the window in one store (each sidecar reports to the replica it is connected to). */
  async #mergedLoads(loads: LoadStore, windowMs: number): Promise<{ loads: LoadStore; unreachable?: Record<string, string> }> {
    if (!this.#peers().length) return { loads };
    const answers = await askPeers<ExportedLoad>(this.#peers(), `/v1/load-export?windowMs=${windowMs}`, this.#deps.replicaAuth!);
    const merged = new LoadStore();
    merged.absorb(loads.exportWindow(windowMs));
    for (const a of answers) if (a.body) merged.absorb(a.body);
    return { loads: merged, ...unreachable(answers) };
  }

  /** The proxies a resource affects on every replica: each one knows its own proxies' snapshots. */
  async #affectedEverywhere(path: string, mine: AffectedProxy[], local: boolean): Promise<{ items: AffectedProxy[]; unreachable?: Record<string, string> }> {
    const self = this.#self();
    const items = self ? mine.map((p) => ({ ...p, replica: self })) : mine;
    if (local || !this.#peers().length) return { items };
    const answers = await askPeers<{ items: AffectedProxy[] }>(this.#peers(), path, this.#deps.replicaAuth!);
    const all = [...items, ...answers.flatMap((a) => a.body?.items ?? [])].sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    return { items: all, ...unreachable(answers) };
  }

  /** The apply history of every live replica (each keeps the changes made through it), newest first. */
  async #historyEverywhere(search: string, mine: { items: HistoryEntry[] }, local: boolean): Promise<unknown> {
    const self = this.#self();
    const items = self ? mine.items.map((h) => ({ ...h, replica: self })) : mine.items;
    if (local || !this.#peers().length) return { ...mine, items };
    const answers = await askPeers<{ items: HistoryEntry[] }>(this.#peers(), `/v1/history${search}`, this.#deps.replicaAuth!);
    const all = [...items, ...answers.flatMap((a) => a.body?.items ?? [])].sort((a, b) => b.revision - a.revision || (a.at < b.at ? 1 : -1));
    return { items: all.slice(0, Number(new URLSearchParams(search).get('limit') ?? '50')), scope: 'changes made through the live replicas since each started', ...unreachable(answers) };
  }

  async #traceEverywhere(tid: string, mine: StoredSpan[]): Promise<{ summary: TraceSummary; spans: StoredSpan[] } | undefined> {
    const answers = await askPeers<{ spans: StoredSpan[] }>(this.#peers(), `/v1/traces/${tid}`, this.#deps.replicaAuth!);
    const all = new TraceStore({ maxTraces: 1, maxBytes: Number.MAX_SAFE_INTEGER });
    const seen = new Set<string>();
    for (const s of [...mine, ...answers.flatMap((a) => a.body?.spans ?? [])]) {
      if (seen.has(s.spanId)) continue;
      seen.add(s.spanId);
      all.add([s]);
    }
    const summary = all.summary(tid);
    return summary ? { summary, spans: all.get(tid)! } : undefined;
  }

  /** `weft trace list` over every replica: summaries merged, a trace split across replicas summarized whole. */
  async #traceListEverywhere(traces: TraceStore, search: string, mine: TraceSummary[], limit: number): Promise<unknown> {
    const answers = await askPeers<{ items: TraceSummary[]; stored?: { traces: number; bytes: number } }>(this.#peers(), `/v1/traces${search}`, this.#deps.replicaAuth!);
    const byId = new Map<string, TraceSummary[]>();
    for (const s of [...mine, ...answers.flatMap((a) => a.body?.items ?? [])]) byId.set(s.traceId, [...(byId.get(s.traceId) ?? []), s]);
    const items: TraceSummary[] = [];
    for (const [tid, parts] of byId) {
      if (parts.length === 1) items.push(parts[0]!);
      else {
        const whole = await this.#traceEverywhere(tid, traces.get(tid) ?? []);
        if (whole) items.push(whole.summary);
      }
    }
    items.sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : 0));
    const stored = answers.reduce((acc, a) => ({ traces: acc.traces + (a.body?.stored?.traces ?? 0), bytes: acc.bytes + (a.body?.stored?.bytes ?? 0) }), { traces: traces.size, bytes: traces.bytes });
    return { items: items.slice(0, limit), stored, ...unreachable(answers) };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseUrl(req.url ?? '/');
    const path = url.pathname;
    if (path === '/healthz') return send(res, 200, { ok: true });
    if ((req.method === 'GET' || req.method === 'HEAD') && this.#files.serve(path, req.headers, res)) return;
    if (req.method === 'POST' && path === '/v1/login') {
      const b = (await readJson(req)) as { token?: unknown } | null;
      if (typeof b?.token !== 'string' || !tokenMatches(this.#deps.token, `Bearer ${b.token}`)) throw new WeftError('ADMIN_UNAUTHORIZED', 'wrong admin token (it is in the control plane\'s data directory, file admin-token)');
      const cookie = this.#sessions.issue();
      // The page keeps the secret (sessionStorage) and sends it as x-weft-csrf with every call.
      return send(res, 200, { ok: true, csrf: this.#sessions.secretOf(cookie) }, { 'set-cookie': cookie });
    }
    // Logging out needs the session's secret too (another site cannot end the session).
    if (req.method === 'POST' && path === '/v1/logout') {
      if (!this.#sessions.secretMatches(req.headers)) throw new WeftError('ADMIN_UNAUTHORIZED', `logging out needs the session's ${CSRF_HEADER} header`);
      return send(res, 200, { ok: true }, { 'set-cookie': Sessions.clear() });
    }
    if (path === '/metrics') {
      const text = await this.#deps.metrics();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
      return;
    }
    // Another replica asking for its fan-out: its own credential, for read-only local queries only.
    const ra = this.#deps.replicaAuth;
    const fromReplica = ra && url.searchParams.get('local') === '1' ? verifyReplicaRequest(ra, req.headers.authorization, req.method ?? 'GET', req.url ?? '/') : undefined;
    if (fromReplica) signers.set(res, (text) => replicaAnswerHeaders(ra!, req.url ?? '/', fromReplica.ts, text));
    else if (!tokenMatches(this.#deps.token, req.headers.authorization)) {
      if (!this.#sessions.valid(req.headers)) throw new WeftError('ADMIN_UNAUTHORIZED', 'missing or wrong bearer token (see `weft --help`: --token or WEFT_TOKEN)');
      if (!this.#sessions.secretMatches(req.headers)) throw new WeftError('ADMIN_UNAUTHORIZED', `a request authenticated by the dashboard's session cookie needs the header ${CSRF_HEADER} with the secret its login answered`);
    }
    if (fromReplica && !REPLICA_PATHS.test(path)) throw new WeftError('ADMIN_UNAUTHORIZED', `a replica credential reads only ${REPLICA_PATHS.source}`);
    const cp = this.#deps.controlPlane;
    const parts = path.split('/').filter(Boolean).map(decodeSegment);
    const m = req.method ?? 'GET';

    if (m === 'POST' && path === '/v1/apply') {
      const dryRun = booleanParam(url.searchParams, 'dryRun');
      // Optimistic concurrency: the apply is refused (409) unless the configuration is still at
      // the revision the caller read (a read-modify-write such as `weft key issue`).
      const ifRev = url.searchParams.get('ifRevision');
      if (ifRev !== null && !/^\d{1,15}$/.test(ifRev)) throw new WeftError('ADMIN_BAD_REQUEST', `ifRevision must be a revision number, got ${JSON.stringify(ifRev.slice(0, 40))}`);
      const decoded = await this.#decoder.decode(await readBody(req));
      const result = await cp.applyValidated(decoded, ifRev === null ? { dryRun } : { dryRun, ifRevision: Number(ifRev) });
      if (!dryRun) this.#history.record(result.revision, result.resources.flatMap((r) => (r.action === 'unchanged' ? [] : [{ key: r.key, action: r.action }])));
      return send(res, 200, result);
    }
    if (m === 'GET' && path === '/v1/resources') {
      const kind = url.searchParams.get('kind') ?? undefined;
      if (kind !== undefined && !KINDS.includes(kind as Kind)) {
        throw new WeftError('ADMIN_BAD_REQUEST', `unknown kind '${kind}' (known: ${KINDS.join(', ')})`);
      }
      // summaries: the one-line SUMMARY `weft get` prints (of the resource as handed out, status
      // included), so the CLI need not load every kind's validators.
      return sendResourceList(res, cp.list(kind as Kind | undefined, url.searchParams.get('namespace') ?? undefined, url.searchParams.get('name') ?? undefined), cp.model);
    }
    if (m === 'DELETE' && parts[0] === 'v1' && parts[1] === 'resources' && parts.length === 5) {
      const [, , kind, ns, name] = parts as [string, string, string, string, string];
      if (!KINDS.includes(kind as Kind)) throw new WeftError('ADMIN_BAD_REQUEST', `unknown kind '${kind}' (known: ${KINDS.join(', ')})`);
      const result = await cp.delete([`${kind}/${ns}/${name}`]);
      this.#history.record(result.revision, result.deleted.map((key) => ({ key, action: 'deleted' as const })));
      return send(res, 200, result);
    }
    if (m === 'POST' && path === '/v1/delete') {
      // Several resources in one change (`weft delete -f FILE`): ones that reference each other go together.
      const body = (await readJson(req)) as { keys?: unknown; ignoreNotFound?: unknown } | null;
      const keys = body?.keys;
      if (!Array.isArray(keys) || !keys.length) throw new WeftError('ADMIN_BAD_REQUEST', 'keys: want a non-empty list of KIND/NAMESPACE/NAME');
      const ignoreNotFound = body?.ignoreNotFound ?? false;
      if (typeof ignoreNotFound !== 'boolean') throw new WeftError('ADMIN_BAD_REQUEST', 'ignoreNotFound: want true or false');
      for (const k of keys) {
        const kind = typeof k === 'string' ? k.split('/')[0]! : '';
        if (typeof k !== 'string' || k.split('/').length !== 3 || !KINDS.includes(kind as Kind)) throw new WeftError('ADMIN_BAD_REQUEST', `keys: ${JSON.stringify(k).slice(0, 80)} is not KIND/NAMESPACE/NAME with a known kind (${KINDS.join(', ')})`);
      }
      const result = await cp.delete([...new Set(keys as ResourceKey[])], { ignoreNotFound });
      if (result.deleted.length) this.#history.record(result.revision, result.deleted.map((key) => ({ key, action: 'deleted' as const })));
      return send(res, 200, result);
    }
    const local = url.searchParams.get('local') === '1';
    if (m === 'GET' && path === '/v1/proxies') {
      const self = this.#self();
      const mine = this.#deps.proxyStatus().map((p) => (self ? { ...(p as object), replica: self } : p));
      if (local) return send(res, 200, { items: mine });
      // `replicas: true`: this control plane is one of a set on etcd (even when every proxy is on
      // one replica now, after a failover): the CLI then says which replica each proxy is on.
      const set = this.#deps.replicaAuth ? { replicas: true } : {};
      const answers = await askPeers<{ items: unknown[] }>(this.#peers(), '/v1/proxies', this.#deps.replicaAuth!);
      return send(res, 200, { items: [...mine, ...answers.flatMap((a) => a.body?.items ?? [])], ...set, ...unreachable(answers) });
    }
    if (m === 'GET' && path === '/v1/replicas' && this.#deps.replicas) return send(res, 200, { items: this.#deps.replicas() });
    if (this.#deps.loads && m === 'GET' && path === '/v1/load-export') {
      const w = Number(url.searchParams.get('windowMs') ?? '60000');
      if (!(w >= 1000 && w <= 15 * 60_000)) throw new WeftError('ADMIN_BAD_REQUEST', 'windowMs: want milliseconds from 1000 (1s) to 900000 (15m)');
      return send(res, 200, this.#deps.loads.exportWindow(w));
    }
    if (m === 'GET' && parts[0] === 'v1' && parts[1] === 'proxies' && parts[3] === 'config' && parts.length === 4) {
      const type = url.searchParams.get('type') ?? undefined;
      if (type !== undefined && !(type in TYPE_URL)) {
        throw new WeftError('ADMIN_BAD_REQUEST', `unknown type '${type}' (known: ${Object.keys(TYPE_URL).join(', ')})`);
      }
      const dump = cp.configDump(parts[2]!, type as ResourceKind | undefined);
      if (!dump) throw new WeftError('CONFIG_NOT_FOUND', `no connected proxy with id '${parts[2]}' (see \`weft proxy-status\`)`);
      return send(res, 200, { nodeId: parts[2], resources: dump });
    }
    if (m === 'GET' && path === '/v1/explain') {
      const q = url.searchParams;
      const headers = q.getAll('header');
      const from = q.get('from');
      const target = q.get('url');
      if (!from || !target) throw new WeftError('ADMIN_BAD_REQUEST', 'explain needs from (the calling service) and url');
      // Loaded on first use: it brings the sidecar's route and filter code.
      const { explain } = await import('../explain.js');
      const proxy = q.get('proxy');
      if (proxy && !local && this.#peers().length && !cp.connectedNodes().some((n) => n.id === proxy)) {
        // The proxy is on another replica: it explains with that proxy's snapshot.
        const answers = await askPeers<unknown>(this.#peers(), `/v1/explain${url.search}`, this.#deps.replicaAuth!);
        const found = answers.find((a) => a.body !== undefined);
        if (found) return send(res, 200, found.body);
      }
      return send(res, 200, explain(cp, { method: q.get('method') ?? 'GET', url: target, from, namespace: q.get('namespace') ?? 'default', headers, ...(proxy ? { proxy } : {}) }));
    }
    let loads = this.#deps.loads;
    if (loads && m === 'GET' && path === '/v1/stats') {
      const q = url.searchParams;
      const w = windowOf(q);
      const by = q.get('by') ?? 'service';
      if (by !== 'service' && by !== 'consumer') throw new WeftError('ADMIN_BAD_REQUEST', `by: want service or consumer, got '${by}'`);
      const direction = q.get('direction') ?? (by === 'consumer' ? 'gateway' : 'inbound');
      if (direction !== 'inbound' && direction !== 'outbound' && direction !== 'gateway') throw new WeftError('ADMIN_BAD_REQUEST', `direction: want inbound, outbound or gateway, got '${direction}'`);
      const service = q.get('service') ?? undefined;
      let missing = {};
      if (!local) ({ loads, ...missing } = await this.#mergedLoads(loads, w));
      if (by === 'consumer') return send(res, 200, { windowMs: w, direction, by, items: loads.queryConsumers({ windowMs: w, direction, ...(service ? { service } : {}) }), ...missing });
      return send(res, 200, { windowMs: w, direction, items: loads.query({ windowMs: w, direction, ...(service ? { service } : {}) }), ...missing });
    }
    if (m === 'GET') {
      const answer = await this.#dashboard.get(parts, url.searchParams);
      if (answer !== undefined && parts[1] === 'resources' && parts[5] === 'proxies') return send(res, 200, await this.#affectedEverywhere(path, (answer as { items: AffectedProxy[] }).items, local));
      if (answer !== undefined && parts[1] === 'history') return send(res, 200, await this.#historyEverywhere(url.search, answer as { items: HistoryEntry[] }, local));
      if (answer !== undefined) return send(res, 200, answer);
    }
    const traces = this.#deps.traces;
    if (traces && m === 'GET' && parts[0] === 'v1' && parts[1] === 'traces') {
      if (parts.length === 2) {
        const q = url.searchParams;
        const minDur = q.get('minDurationMs');
        const limit = q.get('limit');
        if (minDur !== null && !(Number(minDur) >= 0)) throw new WeftError('ADMIN_BAD_REQUEST', 'minDurationMs: want a number of milliseconds >= 0');
        if (limit !== null && !(Number.isInteger(Number(limit)) && Number(limit) > 0 && Number(limit) <= 1000)) throw new WeftError('ADMIN_BAD_REQUEST', 'limit: want an integer from 1 to 1000');
        const query = {
          ...(q.get('service') ? { service: q.get('service')! } : {}),
          ...(minDur !== null ? { minDurationMs: Number(minDur) } : {}),
          errors: booleanParam(q, 'errors'),
          ...(limit !== null ? { limit: Number(limit) } : {}),
        };
        const mine = traces.list(query);
        if (local || !this.#peers().length) return send(res, 200, { items: mine, stored: { traces: traces.size, bytes: traces.bytes } });
        return send(res, 200, await this.#traceListEverywhere(traces, url.search, mine, query.limit ?? 20));
      }
      if (parts.length === 3) {
        const tid = parts[2]!.toLowerCase();
        if (!/^[0-9a-f]{32}$/.test(tid)) throw new WeftError('ADMIN_BAD_REQUEST', `'${parts[2]}' is not a trace id (32 hex digits)`);
        let spans = traces.get(tid);
        if (!local && this.#peers().length) {
          // A trace's hops may have reported to different replicas: its spans from every one.
          const merged = await this.#traceEverywhere(tid, spans ?? []);
          if (merged) return send(res, 200, merged);
          spans = undefined;
        }
        if (!spans) throw new WeftError('CONFIG_NOT_FOUND', `no trace ${tid} in the control plane's store (it keeps the most recent ${traces.size} traces; see \`weft trace list\`)`);
        return send(res, 200, { summary: traces.summary(tid), spans });
      }
    }
    const id = this.#deps.identity;
    if (id && parts[0] === 'v1' && (parts[1] === 'tokens' || parts[1] === 'ca' || (parts[1] === 'proxies' && parts[3] === 'secrets'))) {
      try {
        return await this.#identity(id, m, parts, req, res);
      } catch (e) {
        if (e instanceof CaError) throw new WeftError('ADMIN_BAD_REQUEST', e.message);
        throw e;
      }
    }
    throw new WeftError('ADMIN_NOT_FOUND', `no such endpoint: ${m} ${path}`);
  }

  async #identity(id: NonNullable<AdminDeps['identity']>, m: string, parts: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
    const cp = this.#deps.controlPlane;
    if (parts[1] === 'tokens') {
      if (m === 'GET' && parts.length === 2) return send(res, 200, { items: await id.tokens.list() });
      if (m === 'DELETE' && parts.length === 3) {
        const info = await id.tokens.revoke(parts[2]!);
        this.#log.info({ token: info.id, service: info.service, namespace: info.namespace }, 'join token revoked');
        return send(res, 200, { info });
      }
      if (m === 'POST' && parts.length === 2) {
        const b = ((await readJson(req)) ?? {}) as { service?: unknown; namespace?: unknown; ttlSeconds?: unknown };
        const service = b.service;
        const namespace = b.namespace ?? 'default';
        const ttl = b.ttlSeconds ?? 24 * 3600;
        if (typeof service !== 'string' || !NAME.test(service)) throw new WeftError('ADMIN_BAD_REQUEST', 'service: want a DNS label (lowercase letters, digits, -)');
        if (typeof namespace !== 'string' || !NAME.test(namespace)) throw new WeftError('ADMIN_BAD_REQUEST', 'namespace: want a DNS label (lowercase letters, digits, -)');
        if (typeof ttl !== 'number' || !(ttl >= 1 && ttl <= 366 * 24 * 3600)) throw new WeftError('ADMIN_BAD_REQUEST', 'ttlSeconds: want 1 to 31622400');
        const out = await id.tokens.create({ service, namespace, ttlMs: ttl * 1000, trustDomain: cp.model.mesh.trustDomain, caFingerprint: id.ca.roots()[0]!.fingerprint });
        this.#log.info({ token: out.info.id, service, namespace, expiresAt: out.info.expiresAt }, 'join token created');
        const warning = identityWarning(cp.model, `join token ${out.info.id}`, namespace, service);
        return send(res, 200, warning ? { ...out, warnings: [warning] } : out);
      }
    }
    if (parts[1] === 'ca') {
      if (m === 'GET' && parts.length === 2) {
        return send(res, 200, {
          trustDomain: cp.model.mesh.trustDomain,
          certificateTtlSeconds: cp.model.mesh.certificateTtlMs / 1000,
          external: id.ca.external,
          rotation: { phase: id.ca.rotationPhase(), running: id.rotation.running, step: id.rotation.step },
          roots: id.ca.roots(),
          issued: id.counters.issued,
          refused: id.counters.refused,
        });
      }
      if (m === 'POST' && parts[2] === 'rotate' && parts.length === 3) {
        if (id.ca.external) throw new CaError('the CA comes from --ca-cert-file/--ca-key-file: rotate it by replacing those files');
        if (!id.rotation.running) {
          void id.rotation.start().catch((e: unknown) => this.#log.error({ err: e }, 'root rotation failed'));
        }
        return send(res, 202, { phase: id.ca.rotationPhase(), running: true });
      }
    }
    if (parts[1] === 'proxies' && m === 'GET' && parts.length === 4) {
      const nodeId = parts[2]!;
      const rec = id.issued.get(nodeId);
      const dump = cp.configDump(nodeId, 'secret');
      if (!rec && !dump) throw new WeftError('CONFIG_NOT_FOUND', `no proxy with id '${nodeId}' (see \`weft proxy-status\`)`);
      // A gateway's serving certificates (Secrets its listeners name): names and expiry, never the key.
      const serving = (dump?.secret ?? []).flatMap((x) => {
        const pem = (x.resource as { tlsCertificate?: { certificateChain?: { inlineString?: string } } }).tlsCertificate?.certificateChain?.inlineString;
        const leaf = pem ? pemCertificates(pem)[0] : undefined;
        return leaf ? [{ name: x.name, names: certificateNames(leaf), serial: leaf.serialNumber.toLowerCase(), notAfter: new Date(leaf.validTo).toISOString(), version: x.version }] : [];
      });
      const bundle = dump?.secret?.find((x) => !(x.resource as { tlsCertificate?: unknown }).tlsCertificate);
      return send(res, 200, { nodeId, workloadCertificate: rec ?? null, trustBundle: { roots: id.ca.roots(), version: bundle?.version ?? '' }, servingCertificates: serving });
    }
    throw new WeftError('ADMIN_NOT_FOUND', `no such endpoint: ${m} /${parts.join('/')}`);
  }

  #fail(res: ServerResponse, e: unknown): void {
    const err = isWeftError(e) ? e : new WeftError('INTERNAL', 'internal error', { cause: e });
    if (err.code === 'INTERNAL') this.#log.error({ err: e }, 'admin request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    send(res, STATUS[err.code] ?? 500, err.toJSON());
  }
}

/** Answers to another replica are signed (fan-out.ts): the signer for each such response. */
const signers = new WeakMap<ServerResponse, (text: string) => Record<string, string>>();
/** What a replica credential may read: the fan-out queries. */
const REPLICA_PATHS = /^\/v1\/(proxies|load-export|explain|traces(\/[0-9a-fA-F]{32})?|resources\/[A-Za-z]+\/[a-z0-9-]+\/[a-z0-9-]+\/proxies|history)$/;

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers, ...signers.get(res)?.(text) });
  res.end(text);
}

/** The request target as a URL; 400 when it is not one (e.g. `//host:99999`). */
function parseUrl(target: string): URL {
  try {
    return new URL(target, 'http://admin');
  } catch {
    throw new WeftError('ADMIN_BAD_REQUEST', `the request target is not a valid URL path: ${JSON.stringify(target.slice(0, 200))}`);
  }
}

/** One path segment, percent-decoded; 400 for a malformed escape such as `%zz` or a cut UTF-8 sequence. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new WeftError('ADMIN_BAD_REQUEST', `malformed percent-encoding in the path segment ${JSON.stringify(segment.slice(0, 200))} (want %XX escapes of UTF-8 bytes)`);
  }
}

/** The whole request body; 413 past MAX_BODY, checked on Content-Length first and on the bytes read. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = (size: string) => new WeftError('REQUEST_TOO_LARGE', `request body of ${size} is over the limit of ${MAX_BODY} bytes (16 MiB); split the apply into several`);
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY) throw tooLarge(`${declared} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw tooLarge(`more than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new WeftError('ADMIN_BAD_REQUEST', 'request body is not valid JSON');
  }
}
