/**
 * Durable single-file store under the data directory: `config.json` holds every resource and the
 * revision. A commit writes a temporary file, fsyncs it, renames it over the old one and fsyncs
 * the directory, so `kill -9` at any moment leaves the old or the new file, never a torn one.
 * Commits are serialized. The file is rewritten whole, one resource per line, in chunks: a commit
 * of 20,000 resources never holds the event loop for the whole serialization (which, in one
 * `JSON.stringify` and one Buffer of the whole text, stalled xDS serving for hundreds of
 * milliseconds on a loaded machine).
 */
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { WeftError } from '../../common/errors.js';
import { type MeshResource, type ResourceKey } from '../config/types.js';
import { resourceKey } from '../config/model.js';
import type { ConfigStore, StoreChange, StoredState } from './store.js';

const FORMAT = 1;
const FILE = 'config.json';
/** Characters serialized between two writes of a commit (each write lets the event loop run). */
const WRITE_CHUNK = 256 * 1024;

/** The file: `{ format, revision, resources }`, resources being the documents as applied (validated again on load). */
interface FileContent {
  format: number;
  revision: number;
  resources: unknown[];
}

export class FileStore implements ConfigStore {
  readonly #dir: string;
  readonly #decode: (value: unknown) => MeshResource;
  #state: StoredState | undefined;
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * @param dir data directory (created 0700 if missing)
   * @param decode re-validates each stored resource on load, so a hand-edited or older file that
   *   no longer validates is reported instead of silently served
   */
  constructor(dir: string, decode: (value: unknown) => MeshResource) {
    this.#dir = dir;
    this.#decode = decode;
  }

  get path(): string {
    return join(this.#dir, FILE);
  }

  async load(): Promise<StoredState> {
    if (this.#state) return this.#state;
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return (this.#state = { revision: 0, resources: [] });
      throw new WeftError('STORE_IO', `cannot read ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: FileContent;
    try {
      parsed = JSON.parse(text) as FileContent;
    } catch (e) {
      throw new WeftError('STORE_CORRUPT', `${this.path} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (parsed?.format !== FORMAT || !Number.isInteger(parsed.revision) || !Array.isArray(parsed.resources)) {
      throw new WeftError('STORE_CORRUPT', `${this.path}: unknown store format (want format ${FORMAT})`);
    }
    const resources = parsed.resources.map((r, i) => {
      try {
        return this.#decode(r);
      } catch (e) {
        throw new WeftError('STORE_CORRUPT', `${this.path}: resource ${i} no longer validates: ${(e as Error).message}`, { cause: e });
      }
    });
    return (this.#state = { revision: parsed.revision, resources });
  }

  commit(change: StoreChange): Promise<StoredState> {
    const run = this.#queue.then(() => this.#commit(change));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #commit(change: StoreChange): Promise<StoredState> {
    const current = await this.load();
    const byKey = new Map<ResourceKey, MeshResource>(current.resources.map((r) => [resourceKey(r), r]));
    for (const k of change.delete) byKey.delete(k);
    for (const r of change.upsert) byKey.set(resourceKey(r), r);
    const resources = [...byKey.keys()].sort().map((k) => byKey.get(k)!);
    const next: StoredState = { revision: current.revision + 1, resources };
    await this.#writeAtomic(next.revision, resources);
    this.#state = next;
    return next;
  }

  /**
   * Writes the store file for `resources` through a temporary file: one resource per line, in
   * chunks of about WRITE_CHUNK bytes, each write an await (the event loop serves in between).
   */
  async #writeAtomic(revision: number, resources: readonly MeshResource[]): Promise<void> {
    const tmp = `${this.path}.tmp-${process.pid}`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        let chunk = `{\n "format": ${FORMAT},\n "revision": ${revision},\n "resources": [`;
        for (let i = 0; i < resources.length; i++) {
          const r = resources[i]!;
          // The document as applied: it validates again on load (the normalised form would not).
          chunk += `${i ? ',' : ''}\n  ${JSON.stringify(r.source ?? r)}`;
          if (chunk.length >= WRITE_CHUNK) {
            await fh.write(chunk, null, 'utf8');
            chunk = '';
          }
        }
        await fh.write(`${chunk}${resources.length ? '\n ' : ''}]\n}\n`, null, 'utf8');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.path);
      const dh = await open(this.#dir, 'r');
      try {
        await dh.sync();
      } finally {
        await dh.close();
      }
    } catch (e) {
      await rm(tmp, { force: true });
      throw new WeftError('STORE_IO', `cannot write ${this.path}: ${(e as Error).message}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    await this.#queue;
  }
}
