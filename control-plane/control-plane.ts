/**
 * The control plane's core: one direction, sources -> model -> translate -> snapshot cache -> xDS.
 * Owns the current validated model and the registry; every change (apply, delete, an instance
 * joining or leaving) schedules a debounced publish that rebuilds only the snapshots it affects.
 */
import { isDeepStrictEqual } from 'node:util';
import { WeftError, type FieldError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { KIND_BY_TYPE_URL, type ResourceKind } from '../common/xds-types.js';
import { parseDocuments, validateApply, checkDelete, type RawDocument } from './config/index.js';
import { buildModel, resourceKey, type Kind, type MeshModel, type MeshResource, type ResourceKey } from './config/types.js';
import type { ConfigStore } from './store/store.js';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Registry, describeIdentity } from './registry/registry.js';
import type { RegisteredEndpoint } from './registry/types.js';
import { TranslationCache, Translator } from './translate/index.js';
import type { TelemetryDefaults, TrustView } from './translate/translator.js';
import type { NodeInfo } from './xds/node.js';
import { Publisher, type Change } from './xds/publisher.js';
import type { Snapshot } from './xds/snapshot.js';
import { SnapshotCache } from './xds/cache.js';
import { resourceToJson } from './xds/type-registry.js';

export interface ApplyFile {
  /** Shown in errors: the file path as the operator named it, or '-' for stdin. */
  name: string;
  content: string;
}

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface ProxyChange {
  nodeId: string;
  /** Resource kinds whose content would change for this proxy. */
  types: ResourceKind[];
}

export interface ApplyResult {
  dryRun: boolean;
  revision: number;
  resources: Array<{ key: ResourceKey; action: ApplyAction }>;
  proxies: ProxyChange[];
}

export interface ControlPlaneOptions {
  store: ConfigStore;
  logger?: Logger;
  /** How long a registered instance stays after its proxy's stream closed. */
  registryGraceMs?: number;
  debounceMs?: number;
  maxPushDelayMs?: number;
  /**
   * Where the registry is saved so a restarted control plane still knows its instances (each
   * then has the grace period to reconnect). Unset: not persisted.
   */
  registryFile?: string;
  /**
   * Let unauthenticated streams (plaintext xDS) register instances (`--xds-plaintext-register`).
   * Default false: they get config but register nothing.
   */
  registerUnauthenticated?: boolean;
}

export class ControlPlane {
  readonly cache = new SnapshotCache();
  readonly registry: Registry;
  readonly #store: ConfigStore;
  readonly #log: Logger;
  readonly #publisher: Publisher;
  readonly #nodes = new Map<string, { node: NodeInfo; streams: number }>();
  #model: MeshModel = buildModel(0, []);
  #translator: Translator | undefined;
  #translatorKey = '';
  readonly #translationCache = new TranslationCache();
  #cacheModelRevision = -1;
  #queue: Promise<unknown> = Promise.resolve();
  #trust: TrustView | undefined;
  #telemetry: TelemetryDefaults = {};
  #trustRev = 0;

  constructor(opts: ControlPlaneOptions) {
    this.#store = opts.store;
    this.#log = opts.logger ?? silentLogger;
    this.registry = new Registry(opts.registryGraceMs, { unauthenticated: opts.registerUnauthenticated ? 'register' : 'ignore' });
    this.#publisher = new Publisher((c) => this.#publish(c), { quietMs: opts.debounceMs, maxDelayMs: opts.maxPushDelayMs });
    this.registry.onChange((services) => this.#publisher.schedule({ all: false, services }));
    if (opts.registryFile) this.#persistRegistry(opts.registryFile);
  }

  #persistRegistry(file: string): void {
    try {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as Array<{ service: string; endpoint: RegisteredEndpoint; owner?: string }>;
      if (Array.isArray(saved)) this.registry.restore(saved);
      this.#log.info({ instances: saved.length }, 'registry restored; instances have the grace period to reconnect');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn({ err: e, file }, 'saved registry unreadable; starting empty');
    }
    let timer: NodeJS.Timeout | undefined;
    this.registry.onChange(() => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        const tmp = `${file}.tmp`;
        try {
          writeFileSync(tmp, JSON.stringify(this.registry.list().map(({ service, endpoint, owner }) => ({ service, endpoint, owner }))));
          renameSync(tmp, file);
        } catch (e) {
          this.#log.warn({ err: e, file }, 'could not save the registry');
        }
      }, 200);
      timer.unref();
    });
  }

  /** The CA's trust bundle changed (first start, root rotation): every sidecar gets the new one. */
  setTrust(bundlePem: string): void {
    if (this.#trust?.bundlePem === bundlePem) return;
    this.#trust = { bundlePem };
    this.#trustRev++;
    this.#publisher.schedule({ all: true });
  }

  /** The embedded OTLP receiver's URL: the default tracing endpoint for sidecars. */
  setTelemetryDefaults(t: TelemetryDefaults): void {
    this.#telemetry = t;
    this.#trustRev++;
    this.#publisher.schedule({ all: true });
  }

  get model(): MeshModel {
    return this.#model;
  }

  /** Loads the stored configuration. Call once before serving. */
  async start(): Promise<void> {
    const state = await this.#store.load();
    this.#model = buildModel(state.revision, state.resources);
    this.#log.info({ revision: state.revision, resources: state.resources.length }, 'configuration loaded');
  }

  async close(): Promise<void> {
    this.#publisher.close();
    this.registry.close();
    await this.#store.close();
  }

  // ------------------------------------------------------------------------------ xDS callbacks

  /**
   * A proxy opened a stream: register its instance and give it a snapshot right away. The snapshot
   * comes from the current translator even when the registry has moved on since (this very
   * registration moves it): the registry change has scheduled a publish that brings every node up
   * to date, and meanwhile proxies of one class share one snapshot. A translator per registration
   * would give 1,000 proxies connecting 1,000 snapshots of their own, all alive at once.
   *
   * Returns `{ error }` to refuse the stream, having recorded nothing: when its node id is in use
   * by open streams of another identity (they would share, and it could steer, one snapshot), or
   * when its instance key is held by another identity (see Registry). `node` is the stream's
   * handle: give streamClosed and streamDraining the very same object.
   */
  streamOpened(node: NodeInfo): { error: string } | undefined {
    const entry = this.#nodes.get(node.id);
    if (entry && entry.node.peerId !== node.peerId) {
      return { error: `node id ${node.id} is in use by a stream of ${describeIdentity(entry.node.peerId)}; this stream is ${describeIdentity(node.peerId)}` };
    }
    const reg = this.registry.streamOpened(node);
    if (reg.kind === 'refused') return { error: reg.reason };
    if (reg.kind === 'ignored') this.#log.warn({ node: node.id, service: node.service, namespace: node.namespace, instance: reg.key }, `instance not registered: ${reg.reason}`);
    if (reg.kind === 'registered' && reg.tookOver) this.#log.warn({ node: node.id, instance: reg.key, owner: node.peerId }, 'an authenticated stream took over an instance registered without identity');
    if (entry) {
      entry.streams++;
      entry.node = node;
    } else this.#nodes.set(node.id, { node, streams: 1 });
    this.#setSnapshot(node, true);
    return undefined;
  }

  /** @param leaving the proxy half-closed its stream: remove its instance now. */
  streamClosed(node: NodeInfo, leaving = false): void {
    const entry = this.#nodes.get(node.id);
    if (entry && --entry.streams <= 0) {
      this.#nodes.delete(node.id);
      this.cache.clearSnapshot(node.id);
    }
    this.registry.streamClosed(node, leaving);
  }

  /** The proxy re-sent its node with WEFT_DRAINING: its instance leaves now (if this stream holds it). */
  streamDraining(node: NodeInfo): void {
    this.registry.drained(node);
  }

  connectedNodes(): NodeInfo[] {
    return [...this.#nodes.values()].map((e) => e.node);
  }

  // ------------------------------------------------------------------------------------ config

  /** Validates and stores resources. Nothing is stored when anything is wrong. */
  apply(files: readonly ApplyFile[], opts: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    return this.#serialize(() => this.#apply(files, opts.dryRun ?? false));
  }

  /** Deletes resources; refused when others still reference them. */
  delete(keys: readonly ResourceKey[]): Promise<{ revision: number; deleted: ResourceKey[] }> {
    return this.#serialize(async () => {
      const missing = keys.filter((k) => !this.#model.resources.has(k));
      if (missing.length) throw new WeftError('CONFIG_NOT_FOUND', `not found: ${missing.join(', ')}`);
      const errors = checkDelete([...keys], this.#model);
      if (errors.length) throw new WeftError('CONFIG_INVALID', 'delete would leave dangling references', { details: errors });
      const state = await this.#store.commit({ upsert: [], delete: keys });
      this.#model = buildModel(state.revision, state.resources);
      this.#log.info({ revision: state.revision, deleted: keys }, 'resources deleted');
      this.#publisher.schedule({ all: true });
      return { revision: state.revision, deleted: [...keys] };
    });
  }

  /** Resources of a kind (all kinds when absent), optionally one by namespace/name. */
  list(kind?: Kind, namespace?: string, name?: string): MeshResource[] {
    const out: MeshResource[] = [];
    for (const r of this.#model.resources.values()) {
      if (kind && r.kind !== kind) continue;
      if (namespace && r.metadata.namespace !== namespace) continue;
      if (name && r.metadata.name !== name) continue;
      out.push(r);
    }
    return out.sort((a, b) => (resourceKey(a) < resourceKey(b) ? -1 : 1));
  }

  /** The resources currently published to a proxy, as proto3 JSON, by kind. */
  configDump(nodeId: string, kind?: ResourceKind): Record<string, Array<{ name: string; version: string; resource: unknown }>> | undefined {
    const snap = this.cache.getSnapshot(nodeId);
    if (!snap) return undefined;
    const out: Record<string, Array<{ name: string; version: string; resource: unknown }>> = {};
    for (const [typeUrl, set] of snap.resources) {
      const k = KIND_BY_TYPE_URL.get(typeUrl)!;
      if (kind && k !== kind) continue;
      out[k] = [...set.values()].map((r) => ({ name: r.name, version: r.version, resource: resourceToJson(r.schema, r.message) }));
    }
    return out;
  }

  /** Publishes pending changes now (tests, shutdown). */
  flush(): void {
    this.#publisher.flush();
  }

  // ----------------------------------------------------------------------------------- private

  async #apply(files: readonly ApplyFile[], dryRun: boolean): Promise<ApplyResult> {
    const docs: RawDocument[] = [];
    const errors: FieldError[] = [];
    for (const f of files) {
      const parsed = parseDocuments(f.content, f.name);
      docs.push(...parsed.docs);
      errors.push(...parsed.errors);
    }
    const validated = validateApply(docs, this.#model);
    errors.push(...validated.errors);
    if (errors.length) throw new WeftError('CONFIG_INVALID', `${errors.length} error(s); nothing was applied`, { details: errors });
    if (validated.resources.length === 0) throw new WeftError('CONFIG_INVALID', 'no resources found in the input');

    const resources = validated.resources.map((r) => {
      const old = this.#model.resources.get(resourceKey(r));
      const action: ApplyAction = !old ? 'created' : isDeepStrictEqual(old, r) ? 'unchanged' : 'configured';
      return { key: resourceKey(r), action, resource: r };
    });
    const changed = resources.filter((r) => r.action !== 'unchanged').map((r) => r.resource);
    const overlay = new Map(this.#model.resources);
    for (const r of changed) overlay.set(resourceKey(r), r);
    const nextModel = buildModel(this.#model.revision + (changed.length ? 1 : 0), overlay.values());
    const proxies = this.#affectedProxies(nextModel);
    const summary = resources.map(({ key, action }) => ({ key, action }));
    if (dryRun || changed.length === 0) return { dryRun, revision: this.#model.revision, resources: summary, proxies: dryRun ? proxies : [] };

    const state = await this.#store.commit({ upsert: changed, delete: [] });
    this.#model = buildModel(state.revision, state.resources);
    this.#log.info({ revision: state.revision, changed: changed.map(resourceKey) }, 'configuration applied');
    this.#publisher.schedule({ all: true });
    return { dryRun, revision: state.revision, resources: summary, proxies };
  }

  #affectedProxies(next: MeshModel): ProxyChange[] {
    const t = new Translator(next, this.registry, this.#trust, this.#telemetry, this.#translationCache);
    const out: ProxyChange[] = [];
    for (const { node } of this.#nodes.values()) {
      const before = this.cache.getSnapshot(node.id);
      const after = t.snapshotFor(node);
      const types: ResourceKind[] = [];
      for (const [typeUrl, v] of after.versions) {
        if (before?.versions.get(typeUrl) !== v) types.push(KIND_BY_TYPE_URL.get(typeUrl)!);
      }
      if (types.length) out.push({ nodeId: node.id, types });
    }
    return out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
  }

  /** `registryMayLag`: a translator built for an older registry revision will do (see streamOpened). */
  #currentTranslator(registryMayLag = false): Translator {
    const config = `${this.#model.revision}/${this.#trustRev}`;
    const key = `${config}/${this.registry.revision}`;
    const current = this.#translator;
    if (current && (this.#translatorKey === key || (registryMayLag && this.#translatorKey.startsWith(`${config}/`)))) return current;
    if (this.#cacheModelRevision !== this.#model.revision) {
      this.#translationCache.retainServices(new Set(this.#model.services.values()));
      this.#cacheModelRevision = this.#model.revision;
    }
    const next = new Translator(this.#model, this.registry, this.#trust, this.#telemetry, this.#translationCache);
    this.#translator = next;
    this.#translatorKey = key;
    return next;
  }

  #setSnapshot(node: NodeInfo, registryMayLag = false): void {
    let snap: Snapshot;
    try {
      snap = this.#currentTranslator(registryMayLag).snapshotFor(node);
      this.cache.setSnapshot(node.id, snap);
    } catch (e) {
      // An inconsistent snapshot is a translator bug; keep serving the previous one and say so.
      this.#log.error({ err: e, node: node.id }, 'snapshot not published');
    }
  }

  #publish(change: Change): void {
    const started = performance.now();
    const t = this.#currentTranslator();
    let n = 0;
    for (const { node } of this.#nodes.values()) {
      if (!change.all) {
        const deps = t.dependenciesOf(node);
        let hit = false;
        for (const s of change.services) if (deps.has(s)) hit = true;
        if (!hit) continue;
      }
      this.#setSnapshot(node);
      n++;
    }
    this.#log.debug({ nodes: n, ms: +(performance.now() - started).toFixed(1), all: change.all }, 'published');
  }

  #serialize<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}

