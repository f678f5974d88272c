/**
 * The admin API bearer token: created on first start, kept 0600 in the data directory, compared in
 * constant time. The CLI on the same machine reads it from there; remote operators pass it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeAtomic } from '../ca/files.js';
import type { Vault } from '../ca/vault.js';

export const TOKEN_FILE = 'admin-token';

/**
 * A new admin token: 32 random bytes, base64url, after a `wa_` prefix. base64url may start with
 * '-', and `--token -X...` is then read as a missing value plus an unknown option (node's
 * parseArgs, like most parsers): 1 token in 64 could not be passed as `--token TOKEN`.
 */
export function newAdminToken(): string {
  return `wa_${randomBytes(32).toString('base64url')}`;
}

/**
 * The admin token: from the data directory, or (replicas on etcd) the one every replica shares,
 * made by the first replica and sealed in etcd; it is then also written to the data directory, so
 * the CLI on each replica's machine finds it where it always has.
 */
export async function loadOrCreateToken(dataDir: string, vault?: Vault): Promise<string> {
  const path = join(dataDir, TOKEN_FILE);
  if (vault) {
    let shared = (await vault.get(TOKEN_FILE))?.trim();
    if (!shared) {
      const fresh = newAdminToken();
      shared = (await vault.put([{ name: TOKEN_FILE, data: `${fresh}\n`, secret: true }], { ifValue: { name: TOKEN_FILE, data: undefined } })) ? fresh : (await vault.get(TOKEN_FILE))?.trim();
    }
    if (!shared) throw new Error(`${vault.where}: the shared admin token could not be read back`);
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await writeAtomic(path, `${shared}\n`, 0o600);
    return shared;
  }
  try {
    const t = (await readFile(path, 'utf8')).trim();
    if (t) {
      await chmod(path, 0o600);
      return t;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const token = newAdminToken();
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  return (await readFile(path, 'utf8')).trim();
}

export function tokenMatches(expected: string, header: string | undefined): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const a = Buffer.from(header.slice(7).trim());
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
