/**
 * The control plane's core: one direction, sources -> model -> translate -> snapshot cache -> xDS.
 * Owns the current validated model and the registry; every change (apply, delete, an instance
 * joining or leaving) schedules a debounced publish that rebuilds only the snapshots it affects.
 */
import { isDeepStrictEqual } from 'node:util';
import { WeftError, type FieldError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/log.js';
import { KIND_BY_TYPE_URL, type ResourceKind } from '../common/xds-types.js';
import { checkApplySteps, checkDelete, MAX_LISTED_ERRORS, validateFiles, type ValidatedDocument } from './config/index.js';
import { type Kind, type MeshModel, type MeshResource, type ResourceKey } from './config/types.js';
import { buildModel, buildModelSteps, resourceKey } from './config/model.js';
import { sortedByKey } from './config/resource-key.js';
import { nextTurn, sliced } from './slices.js';
import { applyWarnings, identityWarning } from './config/warnings.js';
import { StaleRevisionError, type ConfigStore, type StoredState } from './store/store.js';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { Registry, describeIdentity } from './registry/registry.js';
import type { RegisteredEndpoint, RegistryView } from './registry/types.js';
import { TranslationCache, Translator } from './translate/index.js';
import type { TelemetryDefaults, TrustView } from './translate/translator.js';
import { instanceKey, type NodeInfo } from './xds/node.js';
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

/** An apply whose documents were already parsed and validated one by one (validateFiles, possibly in a worker). */
export interface ValidatedApply {
  /** The files' names, for messages about the apply as a whole. */
  files: readonly string[];
  documents: readonly ValidatedDocument[];
  /** Errors found so far: the first MAX_LISTED_ERRORS. */
  errors: readonly FieldError[];
  /** All errors found so far, listed or not. */
  errorCount: number;
}

export interface ProxyChange {
  nodeId: string;
  /** Resource kinds whose content would change for this proxy. */
  types: ResourceKind[];
}

export interface ApplyResult {
  dryRun: boolean;
  revision: number;
  resources: Array<{ key: ResourceKey; action: ApplyAction }>;
  /** Dry run only: the connected proxies whose resources would change (empty for a real apply). */
  proxies: ProxyChange[];
  /** Valid but ineffective configuration (config/warnings.ts), e.g. a policy for a missing Service; absent when none. */
  warnings?: string[];
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
  /** Replicas on etcd: the registry every replica shares (built around this replica's own). */
  shareRegistry?: (local: Registry) => SharedRegistryView;
}

/** A registry view that also holds other replicas' instances (registry/shared.ts). */
export interface SharedRegistryView extends RegistryView {
  onChange(listener: (changed: ReadonlySet<string>) => void): void;
  /** The identity holding an instance through another replica (registry/shared.ts). */
  remoteOwner(service: string, key: string): string | undefined;
  start(): Promise<void>;
  close(): Promise<void>;
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
  readonly #revisionWaiters: Array<() => void> = [];
  /** What translation reads: this replica's registry, or the one shared by every replica. */
  readonly #view: RegistryView;
  readonly #shared: SharedRegistryView | undefined;
  #trust: TrustView | undefined;
  #telemetry: TelemetryDefaults = {};
  #trustRev = 0;
  #publishedTrust: string | undefined;

  constructor(opts: ControlPlaneOptions) {
    this.#store = opts.store;
    this.#log = opts.logger ?? silentLogger;
    this.registry = new Registry(opts.registryGraceMs, { unauthenticated: opts.registerUnauthenticated ? 'register' : 'ignore' });
    this.#publisher = new Publisher((c) => this.#publish(c), { quietMs: opts.debounceMs, maxDelayMs: opts.maxPushDelayMs });
    this.registry.onChange((services) => this.#publisher.schedule({ all: false, services }));
    this.#shared = opts.shareRegistry?.(this.registry);
    this.#shared?.onChange((services) => this.#publisher.schedule({ all: false, services }));
    this.#view = this.#shared ?? this.registry;
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

  /**
   * Loads the stored configuration. Call once before serving. A shared store (etcd) is then
   * followed: what other replicas commit becomes this replica's model and is pushed to its proxies.
   */
  async start(): Promise<void> {
    const state = await this.#store.load();
    this.#model = buildModel(state.revision, state.resources);
    this.#log.info({ revision: state.revision, resources: state.resources.length }, 'configuration loaded');
    await this.#shared?.start();
    this.#store.watch?.(
      (s) => void this.#serialize(() => this.#adopt(s, 'watch')),
      (e) => this.#log.warn({ err: { message: e.message } }, 'configuration watch: error (the store client resumes by itself)'),
    );
  }

  /**
   * A newer stored state (our own commit, or another replica's through the watch) becomes the
   * model, built in slices (tens of milliseconds at 20,000 resources). Runs in the serialized
   * section, so no other change lands meanwhile.
   */
  async #adopt(state: StoredState, via: 'commit' | 'watch'): Promise<void> {
    if (state.revision <= this.#model.revision) return;
    const model = await sliced(buildModelSteps(state.revision, state.resources));
    if (state.revision <= this.#model.revision) return;
    this.#model = model;
    if (via === 'watch') this.#log.info({ revision: state.revision, resources: state.resources.length }, 'configuration changed in the store (another replica)');
    this.#publisher.schedule({ all: true });
    for (const w of this.#revisionWaiters.splice(0)) w();
  }

  /** Resolves once the model is at `revision` or later (the watch caught up), or after `ms`. */
  #reach(revision: number, ms = 5000): Promise<void> {
    if (this.#model.revision >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      const check = () => {
        if (this.#model.revision >= revision) {
          clearTimeout(t);
          resolve();
        } else this.#revisionWaiters.push(check);
      };
      this.#revisionWaiters.push(check);
    });
  }

  /**
   * Runs an apply or delete (validate against the model, then a commit guarded by the model's
   * revision). A shared store refuses the commit when the stored state moved on meanwhile
   * (StaleRevisionError: another replica changed other resources): once the watch brought the
   * newer state, the change is validated again against it and committed again (a few times at
   * most). A change to the very resources another replica just changed is a CONFIG_CONFLICT.
   */
  async #guarded<T>(run: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#serialize(run);
      } catch (e) {
        if (!(e instanceof StaleRevisionError) || attempt >= 4) throw e;
        // Outside the serialized section: the watch brings the newer state through it.
        await this.#reach(e.latest);
      }
    }
  }

  async close(): Promise<void> {
    this.#publisher.close();
    await this.#shared?.close();
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
    // An instance held by another identity through another replica is refused here too: the
    // owner binding holds across replicas, not only within one.
    if (this.#shared && node.service && node.instanceIp && node.instancePort) {
      const key = instanceKey(node);
      const owner = this.#shared.remoteOwner(`${node.namespace}/${node.service}`, key);
      if (owner !== undefined && owner !== node.peerId) return { error: `instance ${key} is registered (through another control-plane replica) by ${owner}; this stream is ${describeIdentity(node.peerId)}` };
    }
    const reg = this.registry.streamOpened(node);
    if (reg.kind === 'refused') return { error: reg.reason };
    if (reg.kind === 'ignored') this.#log.warn({ node: node.id, service: node.service, namespace: node.namespace, instance: reg.key }, `instance not registered: ${reg.reason}`);
    // A sidecar with no app (--app-port 0: it only calls out) needs no Service of its own.
    if (!entry && node.role === 'sidecar' && node.service && node.appPort) {
      const w = identityWarning(this.#model, `sidecar ${node.id}`, node.namespace, node.service);
      if (w) this.#log.warn({ node: node.id, service: node.service, namespace: node.namespace }, w);
    }
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
      this.#snapshotRevision.delete(node.id);
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

  /**
   * Validates and stores resources. Nothing is stored when anything is wrong. Parses on the
   * calling thread: the admin API decodes off the event loop and calls applyValidated.
   */
  apply(files: readonly ApplyFile[], opts: { dryRun?: boolean } = {}): Promise<ApplyResult> {
    return this.#serialize(() => {
      const v = validateFiles(files);
      return this.#apply({ files: files.map((f) => f.name), documents: v.documents, errors: v.errors, errorCount: v.errors.length }, opts.dryRun ?? false);
    });
  }

  /**
   * The rest of an apply once each document is validated on its own: the checks against the
   * stored configuration, then the store. Runs in slices that yield to the event loop, so xDS is
   * served during a large apply.
   */
  applyValidated(input: ValidatedApply, opts: { dryRun?: boolean; ifRevision?: number } = {}): Promise<ApplyResult> {
    return this.#guarded(() => {
      // Checked inside the serialized section: no other apply or delete can land in between.
      if (opts.ifRevision !== undefined && opts.ifRevision !== this.#model.revision) {
        throw new WeftError('CONFIG_CONFLICT', `the configuration is at revision ${this.#model.revision}, not ${opts.ifRevision} as read: another change landed first; read again and retry`);
      }
      return this.#apply(input, opts.dryRun ?? false);
    });
  }

  /**
   * Deletes resources; refused when others still reference them. A key that does not exist is an
   * error (nothing is deleted), or with `ignoreNotFound` is left out and reported in `notFound`;
   * when none exists then, nothing is committed and `revision` is the current one.
   */
  delete(keys: readonly ResourceKey[], opts: { ignoreNotFound?: boolean } = {}): Promise<{ revision: number; deleted: ResourceKey[]; notFound?: ResourceKey[] }> {
    return this.#guarded(async () => {
      const missing = keys.filter((k) => !this.#model.resources.has(k));
      if (missing.length) {
        if (!opts.ignoreNotFound) throw new WeftError('CONFIG_NOT_FOUND', `not found: ${missing.join(', ')}`);
        keys = keys.filter((k) => this.#model.resources.has(k));
      }
      const notFound = missing.length ? { notFound: missing } : {};
      if (!keys.length) return { revision: this.#model.revision, deleted: [], ...notFound };
      const errors = checkDelete([...keys], this.#model);
      if (errors.length) throw new WeftError('CONFIG_INVALID', 'delete would leave dangling references', { details: errors });
      const state = await this.#store.commit({ upsert: [], delete: keys }, { revision: this.#model.revision });
      await this.#adopt(state, 'commit');
      this.#log.info({ revision: state.revision, deleted: keys }, 'resources deleted');
      return { revision: state.revision, deleted: [...keys], ...notFound };
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
    return sortedByKey(out);
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

  /** The snapshot a connected proxy is served now (`weft explain`). */
  snapshotOf(nodeId: string): Snapshot | undefined {
    return this.cache.getSnapshot(nodeId);
  }

  /** The snapshot the current config and registry give a proxy that is not connected; nothing is recorded (`weft explain`). */
  previewSnapshot(node: NodeInfo): Snapshot {
    return this.#currentTranslator().snapshotFor(node);
  }

  /** Publishes pending changes now (tests, shutdown). */
  flush(): void {
    this.#publisher.flush();
  }

  // ----------------------------------------------------------------------------------- private

  async #apply(input: ValidatedApply, dryRun: boolean): Promise<ApplyResult> {
    const set = await sliced(checkApplySteps(input.documents, this.#model));
    const count = input.errorCount + set.errors.length;
    if (count) {
      const listed = [...input.errors, ...set.errors].slice(0, MAX_LISTED_ERRORS);
      throw new WeftError('CONFIG_INVALID', `${count} error(s); nothing was applied${count > listed.length ? ` (the first ${listed.length} are listed)` : ''}`, { details: listed });
    }
    if (set.resources.length === 0) throw new WeftError('CONFIG_INVALID', `no resources found in the input: every document of ${input.files.join(', ')} is empty`);

    const found = applyWarnings(set.resources, this.#model);
    const warnings = found.length ? { warnings: found } : {};
    if (found.length && !dryRun) this.#log.warn({ warnings: found }, 'applied configuration names resources that do not exist');
    const resources = await sliced(this.#actions(set.resources));
    const changed = resources.filter((r) => r.action !== 'unchanged').map((r) => r.resource);
    const summary = resources.map(({ key, action }) => ({ key, action }));
    // The per-proxy estimate translates the whole configuration for every connected proxy (seconds
    // at 20,000 resources): only a dry run answers with it. A real apply publishes right after, and
    // `weft proxy-status` shows what each proxy received. The whole-model steps take tens of
    // milliseconds each at 20,000 resources: between them, xDS requests that arrived are served.
    if (dryRun) {
      const proxies = await this.#affectedProxies(() => {
        const overlay = new Map(this.#model.resources);
        for (const r of changed) overlay.set(resourceKey(r), r);
        return buildModel(this.#model.revision + (changed.length ? 1 : 0), overlay.values());
      });
      return { dryRun, revision: this.#model.revision, resources: summary, proxies, ...warnings };
    }
    if (changed.length === 0) return { dryRun, revision: this.#model.revision, resources: summary, proxies: [], ...warnings };

    await nextTurn();
    const state = await this.#store.commit({ upsert: changed, delete: [] }, { revision: this.#model.revision });
    await this.#adopt(state, 'commit');
    this.#log.info({ revision: state.revision, changed: changed.length <= 20 ? changed.map(resourceKey) : `${changed.length} resources` }, 'configuration applied');
    return { dryRun, revision: state.revision, resources: summary, proxies: [], ...warnings };
  }

  /** What an apply does to each resource, in steps (one deep comparison each). */
  *#actions(applied: readonly MeshResource[]): Generator<void, Array<{ key: ResourceKey; action: ApplyAction; resource: MeshResource }>> {
    const out: Array<{ key: ResourceKey; action: ApplyAction; resource: MeshResource }> = [];
    for (const r of applied) {
      if (out.length % 256 === 255) yield;
      const key = resourceKey(r);
      const old = this.#model.resources.get(key);
      out.push({ key, action: !old ? 'created' : isDeepStrictEqual(old, r) ? 'unchanged' : 'configured', resource: r });
    }
    return out;
  }

  /**
   * Proxies whose resources the model `next()` changes; each step (the model, the translator, one
   * translation per connected proxy) is its own event-loop task, and none runs without proxies.
   */
  async #affectedProxies(next: () => MeshModel): Promise<ProxyChange[]> {
    if (this.#nodes.size === 0) return [];
    await nextTurn();
    const model = next();
    await nextTurn();
    const t = new Translator(model, this.#view, this.#trust, this.#telemetry, this.#translationCache);
    const out: ProxyChange[] = [];
    for (const { node } of [...this.#nodes.values()]) {
      await nextTurn();
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
    const key = `${config}/${this.#view.revision}`;
    const current = this.#translator;
    if (current && (this.#translatorKey === key || (registryMayLag && this.#translatorKey.startsWith(`${config}/`)))) return current;
    if (this.#cacheModelRevision !== this.#model.revision) {
      this.#translationCache.retainServices(new Set(this.#model.services.values()));
      this.#cacheModelRevision = this.#model.revision;
    }
    const next = new Translator(this.#model, this.#view, this.#trust, this.#telemetry, this.#translationCache);
    this.#translator = next;
    this.#translatorKey = key;
    return next;
  }

  /** The configuration revision each connected proxy's current snapshot was built from. */
  readonly #snapshotRevision = new Map<string, number>();

  /** The configuration revision of the snapshot `nodeId` is being served (proxy-status). */
  snapshotRevision(nodeId: string): number | undefined {
    return this.#snapshotRevision.get(nodeId);
  }

  #setSnapshot(node: NodeInfo, registryMayLag = false): void {
    let snap: Snapshot;
    try {
      snap = this.#currentTranslator(registryMayLag).snapshotFor(node);
      this.cache.setSnapshot(node.id, snap);
      this.#snapshotRevision.set(node.id, this.#model.revision);
    } catch (e) {
      // An inconsistent snapshot is a translator bug; keep serving the previous one and say so.
      this.#log.error({ err: e, node: node.id }, 'snapshot not published');
    }
  }

  /** The trust bundle the last whole publish put in every proxy's snapshot (rotation progress). */
  get publishedTrust(): string | undefined {
    return this.#publishedTrust;
  }

  #publish(change: Change): void {
    const started = performance.now();
    if (change.all) this.#publishedTrust = this.#trust?.bundlePem;
    // No proxy connected: no translator either (a first stream builds it).
    if (this.#nodes.size === 0) return;
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
