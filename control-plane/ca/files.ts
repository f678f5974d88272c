/** Atomic, durable writes for CA material: temp file with the final mode, fsync, rename. */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename } from 'node:fs/promises';

export async function writeAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, mode);
  await rename(tmp, path);
}
