/**
 * The CA's material in etcd, shared by every control-plane replica (issue 22): one key per entry
 * under `<prefix>/ca/`, every entry (root keys and certificates, rotation state, the join-token
 * key and records, the admin token) sealed with AES-256-GCM under a key derived (HKDF-SHA256)
 * from the key-encryption key file every replica is given: secret, and authenticated. The entry's name is the GCM associated data, so a sealed value
 * cannot be moved to another key. etcd (and its backups) never see a key in the clear; a replica
 * given another KEK fails at start saying so, instead of making a CA of its own.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { silentLogger, type Logger } from '../../common/log.js';
import { Follower } from '../store/etcd-watch.js';
import { WeftError } from '../../common/errors.js';
import { bounded } from '../store/etcd-options.js';
import type { Vault, VaultEntry } from './vault.js';

const SEALED = 'weft-sealed-v1:';

/** The 32-byte AES key derived from a KEK file's content (at least 32 bytes of secret). */
export function deriveKek(secret: Buffer, file = 'the key-encryption key'): Buffer {
  // The file's bytes as they are (binary or text), less a trailing newline or spaces.
  let end = secret.length;
  while (end > 0 && [0x0a, 0x0d, 0x20, 0x09].includes(secret[end - 1]!)) end--;
  const material = secret.subarray(0, end);
  if (material.length < 32) throw new WeftError('CLI_USAGE', `${file}: a key-encryption key needs at least 32 bytes of secret (make one with: head -c 32 /dev/urandom | base64 > ${file === 'the key-encryption key' ? 'kek' : file})`);
  return Buffer.from(hkdfSync('sha256', material, 'weft', 'weft ca vault v1', 32));
}

export function seal(key: Buffer, name: string, plain: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(Buffer.from(name));
  const ct = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return SEALED + Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64');
}

export function unseal(key: Buffer, name: string, sealed: string): string {
  if (!sealed.startsWith(SEALED)) throw new WeftError('STORE_CORRUPT', `CA entry ${name} in etcd should be encrypted and is not`);
  const raw = Buffer.from(sealed.slice(SEALED.length), 'base64');
  if (raw.length < 28) throw new WeftError('STORE_CORRUPT', `CA entry ${name} in etcd is truncated`);
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  d.setAAD(Buffer.from(name));
  d.setAuthTag(raw.subarray(12, 28));
  try {
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    throw new WeftError('CA_KEK_MISMATCH', `CA entry ${name} in etcd does not decrypt with this replica's key-encryption key (--ca-kek-file): every replica must be given the same KEK file as the replica that created the CA`);
  }
}

export class EtcdVault implements Vault {
  readonly where: string;
  readonly #client: Etcd3;
  readonly #dir: string;
  readonly #kek: Buffer;
  #watcher: Follower | undefined;
  readonly #logger: Logger;
  #closed = false;

  /** `client`: made with etcdClientOptions (store/etcd-store.ts), whose calls carry their deadlines. */
  constructor(client: Etcd3, prefix: string, kek: Buffer, logger: Logger = silentLogger) {
    this.#logger = logger;
    this.#client = client;
    this.#dir = `${prefix.replace(/\/+$/, '')}/ca/`;
    this.#kek = kek;
    this.where = `etcd ${this.#dir}`;
  }

  /**
   * Every entry is sealed, not only the keys: GCM authenticates too, so someone who can write etcd
   * but has no KEK cannot slip a root certificate of their own into the trust bundle, nor a
   * rotation state of their own.
   */
  #decode(name: string, raw: string): string {
    return unseal(this.#kek, name, raw);
  }

  async get(name: string): Promise<string | undefined> {
    const raw = await this.#client.get(this.#dir + name).string();
    return raw === null ? undefined : this.#decode(name, raw);
  }

  async list(prefix: string): Promise<Array<{ name: string; data: string }>> {
    const all = await this.#client.getAll().prefix(this.#dir + prefix).strings();
    return Object.entries(all)
      .map(([k, v]) => ({ name: k.slice(this.#dir.length), data: this.#decode(k.slice(this.#dir.length), v) }))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async put(entries: readonly VaultEntry[], o: { remove?: readonly string[]; ifValue?: { name: string; data: string | undefined } } = {}): Promise<boolean> {
    const ops = [
      ...entries.map((e) => this.#client.put(this.#dir + e.name).value(seal(this.#kek, e.name, e.data))),
      ...(o.remove ?? []).map((n) => this.#client.delete().key(this.#dir + n)),
    ];
    const cond = o.ifValue;
    if (!cond) {
      // A compare that always holds: etcd writes every entry in one transaction.
      await this.#client.if(this.#dir + '.none', 'Mod', '>', -1).then(...ops).commit();
      return true;
    }
    const key = this.#dir + cond.name;
    if (cond.data === undefined) {
      const r = await this.#client.if(key, 'Create', '==', 0).then(...ops).commit();
      return r.succeeded;
    }
    // A secret's sealed form differs on every write: compare what is there now, by its revision.
    const now = await this.#client.get(key).exec();
    const kv = now.kvs[0];
    if (!kv || this.#decode(cond.name, kv.value.toString('utf8')) !== cond.data) return false;
    const r = await this.#client.if(key, 'Mod', '==', Number(kv.mod_revision)).then(...ops).commit();
    return r.succeeded;
  }

  watch(fn: (names: readonly string[]) => void): void {
    if (this.#watcher || this.#closed) return;
    this.#watcher = new Follower({
      client: this.#client,
      prefix: this.#dir,
      what: 'CA',
      logger: this.#logger,
      onData: (res) => {
        const names = [...new Set(res.events.map((ev) => ev.kv.key.toString('utf8').slice(this.#dir.length)))];
        if (names.length) fn(names);
      },
      // A cancelled watch may have missed a rotation step: read the state again.
      resync: async () => (fn(['state.json']), undefined),
    });
    const w = this.#watcher;
    const start = (delay: number) => {
      w.start()
        // Changes made between the CA's read and this watch: read the state once more.
        .then(() => fn(['state.json']))
        .catch(() => {
          if (this.#closed) return;
          const t = setTimeout(() => start(Math.min(5000, delay * 2)), delay);
          t.unref();
        });
    };
    start(250);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await bounded(this.#watcher?.close());
  }
}
