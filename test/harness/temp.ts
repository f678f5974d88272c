/**
 * Temporary directories for tests: each is removed after the test file that made it
 * (test/harness/setup.ts), so a run leaves nothing behind in the system's temp dir.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const tempDirs: string[] = [];

/** A new directory under the system's temp dir, removed after the test file (test/harness/setup.ts). */
export function tempDir(prefix = 'weft-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/**
 * Removes every directory tempDir made so far (the processes using them are stopped by then). A
 * directory that cannot be removed is left: cleanup never fails a test.
 */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // left in the temp dir
    }
  }
}
