/**
 * Root rotation with no outage, in three steps that each wait for the mesh to catch up:
 *  1. add: a new root is trusted beside the old one (bundle [old, new]); wait until every
 *     connected sidecar has ACKed the new trust bundle (SDS);
 *  2. promote: the CA signs with the new root (bundle [new, old]); a sidecar whose leaf is not
 *     from the bundle's first root renews at once; wait until every connected sidecar holds a
 *     leaf from the new root;
 *  3. finish: the old root leaves the bundle.
 * A step that does not converge within `stepTimeoutMs` goes ahead anyway and says so in the log
 * (a sidecar that is offline must not block the mesh); the state survives restarts in the CA.
 */
import type { Logger } from '../../common/log.js';
import type { CertificateAuthority } from './ca.js';
import type { IdentityServer } from './service.js';

interface ProxyView {
  nodeId: string;
  role: string;
  types: { secret?: { state: string } };
}

export interface RotationDeps {
  ca: CertificateAuthority;
  identity: IdentityServer;
  /** Per-stream xDS status (proxy-status). */
  proxies: () => ProxyView[];
  /** Publish the CA's current bundle to every proxy. */
  publishTrust: () => void;
  logger: Logger;
  stepTimeoutMs: number;
  /**
   * Replicas on etcd: whether this replica leads. A replica that does not lead only starts a
   * rotation (its first step, stored in etcd for every replica); the leader drives the rest.
   */
  isLeader?: () => boolean;
  /**
   * Replicas on etcd: whether every other live replica's proxies are there too: `trust` (ACKed
   * the current bundle) or `renewed` (hold leaves from the root `fingerprint`).
   */
  othersReady?: (what: 'trust' | 'renewed', fingerprint: string) => boolean;
}

export class RootRotation {
  #running: Promise<void> | undefined;
  step = '';
  constructor(private readonly d: RotationDeps) {}

  get running(): boolean {
    return this.#running !== undefined;
  }

  /** Starts (or resumes) a rotation; resolves when it is done. */
  start(): Promise<void> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      this.step = '';
    });
    return this.#running;
  }

  async #waitFor(what: string, ok: () => boolean): Promise<void> {
    const deadline = Date.now() + this.d.stepTimeoutMs;
    await sleep(1000); // let the debounced push go out first
    while (!ok()) {
      // Leadership lost mid-step: the new leader takes the rotation on from the stored state.
      if (this.d.isLeader && !this.d.isLeader()) throw new Error('root rotation: this replica no longer leads; the new leader carries on');
      if (Date.now() > deadline) {
        this.d.logger.warn({ step: this.step, waitedMs: this.d.stepTimeoutMs }, `root rotation: not every proxy ${what} in time; going ahead`);
        return;
      }
      await sleep(250);
    }
  }

  async #run(): Promise<void> {
    const { ca, logger } = this.d;
    const sidecars = () => this.d.proxies().filter((p) => p.role === 'sidecar');
    const others = (what: 'trust' | 'renewed') => this.d.othersReady?.(what, ca.roots()[0]!.fingerprint) ?? true;
    if (ca.rotationPhase() === 'none') {
      this.step = 'add';
      await ca.beginRotation();
      logger.info({ roots: ca.roots().map((r) => r.fingerprint) }, 'root rotation: new root added to the trust bundle');
    }
    this.d.publishTrust();
    if (this.d.isLeader && !this.d.isLeader()) {
      logger.info('root rotation: started here; the leader replica takes it through its steps');
      return;
    }
    if (ca.rotationPhase() === 'added') {
      this.step = 'add';
      await this.#waitFor('ACKed the new trust bundle', () => sidecars().every((p) => p.types.secret?.state === 'SYNCED') && others('trust'));
      this.step = 'promote';
      await ca.promoteRotation();
      this.d.publishTrust();
      logger.info({ signing: ca.roots()[0]?.fingerprint }, 'root rotation: the CA signs with the new root; sidecars renew');
    }
    if (ca.rotationPhase() === 'promoted') {
      this.step = 'promote';
      const fp = ca.roots()[0]!.fingerprint;
      await this.#waitFor('renewed from the new root', () =>
        sidecars().every((p) => p.types.secret?.state === 'SYNCED' && this.d.identity.issued.get(p.nodeId)?.issuerFingerprint === fp) && others('renewed'),
      );
      this.step = 'finish';
      await ca.finishRotation();
      this.d.publishTrust();
      logger.info({ roots: ca.roots().map((r) => r.fingerprint) }, 'root rotation: old root removed; done');
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
