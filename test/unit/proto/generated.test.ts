// proto/gen is reproducible: regenerating from the pinned protos gives byte-identical files.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../../harness/processes.js';

function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

describe('make proto', () => {
  it('regenerates proto/gen byte for byte', async () => {
    const out = tempDir('weft-proto-');
    // Not execFileSync: a worker blocked for a minute misses its runner's RPC timeout.
    await promisify(execFile)(process.execPath, [join(ROOT, 'scripts/gen-proto.mjs'), '--out', out], { maxBuffer: 64 * 1024 * 1024 });
    const fresh = tree(join(out, 'gen'));
    const committed = tree(join(ROOT, 'proto/gen'));
    expect([...fresh.keys()].sort()).toEqual([...committed.keys()].sort());
    for (const [f, text] of fresh) expect(text === committed.get(f), f).toBe(true);
    // Every generated file says so.
    for (const [f, text] of committed) expect(text.includes('@generated'), f).toBe(true);
  }, 120_000);
});
