/**
 * Where the CA keeps its material (roots and their keys, rotation state, the join-token key, the
 * join-token records, the admin token): a small key-value interface with two implementations.
 *
 * - `FileVault`: files in <data-dir>/ca (directory 0700, secrets 0600, written atomically), the
 *   layout one control plane has always used.
 * - `EtcdVault` (etcd-vault.ts): keys under <prefix>/ca/ in the store every replica shares, secret
 *   values encrypted with the key-encryption key each replica is given in a file (--ca-kek-file),
 *   so one CA signs for every replica and a replica learns of another's change from a watch.
 *
 * Writes that must not race (the first root, a rotation step) are conditional: `put` with
 * `ifValue` lands only if that entry still holds what was read (or is still absent), so two
 * replicas starting together make one CA, and two rotation requests make one rotation.
 */
import { chmod, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from './files.js';

export interface VaultEntry {
  /** A relative name: `state.json`, `root-<fp>.key.pem`, `tokens/<id>`. */
  name: string;
  data: string;
  /** Keys and tokens: 0600 on disk, encrypted in etcd. */
  secret: boolean;
}

export interface Vault {
  /** Where the material lives, for messages. */
  readonly where: string;
  get(name: string): Promise<string | undefined>;
  /** Every entry whose name starts with `prefix`. */
  list(prefix: string): Promise<Array<{ name: string; data: string }>>;
  /**
   * Writes every entry (and deletes `remove`) in one step. With `ifValue`, only when the entry
   * `ifValue.name` holds `ifValue.data` now (undefined: does not exist); returns false otherwise
   * and writes nothing.
   */
  put(entries: readonly VaultEntry[], o?: { remove?: readonly string[]; ifValue?: { name: string; data: string | undefined } }): Promise<boolean>;
  /** Calls `fn` with the names that changed (by another replica, or this one). */
  watch?(fn: (names: readonly string[]) => void): void;
  close?(): Promise<void>;
}

/** The single-machine vault: files in one directory, as the CA has always kept them. */
export class FileVault implements Vault {
  readonly where: string;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(readonly dir: string) {
    this.where = dir;
  }

  static async open(dir: string): Promise<FileVault> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    return new FileVault(dir);
  }

  async get(name: string): Promise<string | undefined> {
    const path = join(this.dir, name);
    try {
      const data = await readFile(path, 'utf8');
      // Secrets written by older versions (or by hand) get their mode tightened on read.
      if (/key|token/.test(name)) await chmod(path, 0o600);
      return data;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<Array<{ name: string; data: string }>> {
    const slash = prefix.lastIndexOf('/');
    const sub = slash >= 0 ? prefix.slice(0, slash + 1) : '';
    let names: string[];
    try {
      names = await readdir(join(this.dir, sub));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: Array<{ name: string; data: string }> = [];
    for (const n of names.sort()) {
      const name = sub + n;
      if (!name.startsWith(prefix) || n.includes('.tmp-')) continue;
      const data = await this.get(name);
      if (data !== undefined) out.push({ name, data });
    }
    return out;
  }

  put(entries: readonly VaultEntry[], o: { remove?: readonly string[]; ifValue?: { name: string; data: string | undefined } } = {}): Promise<boolean> {
    // One writer (this process): the condition is checked and the writes made in one queued step.
    const run = this.#queue.then(async () => {
      if (o.ifValue && (await this.get(o.ifValue.name)) !== o.ifValue.data) return false;
      // The entry named in the condition last: a crash in between leaves the old state pointing
      // at material that is all still there.
      const ordered = [...entries].sort((a, b) => Number(a.name === o.ifValue?.name) - Number(b.name === o.ifValue?.name));
      for (const e of ordered) {
        const path = join(this.dir, e.name);
        if (e.name.includes('/')) await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
        await writeAtomic(path, e.data, e.secret ? 0o600 : 0o644);
      }
      for (const n of o.remove ?? []) await rm(join(this.dir, n), { force: true });
      return true;
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
