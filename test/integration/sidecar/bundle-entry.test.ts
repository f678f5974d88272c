// bin/weft.js starts the data plane from dist/sidecar-bundle/ (scripts/bundle-sidecar.mjs) and
// refuses a bundle that is missing or older than what tsc last built, so a `tsc` without the bundle
// step never runs stale code. Run against a copy of bin/weft.js in a temporary tree whose dist/
// holds a stand-in `main` that prints what it was given: the real dist/ is shared with every other
// test running at the same time, and touching it would break them.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../../harness/processes.js';

/** A tree with bin/weft.js and dist/sidecar/main.js; `bundle` writes dist/sidecar-bundle/main.js `ageS` seconds older (negative: newer) than it. */
function tree(bundle: { ageS: number } | undefined): string {
  const dir = tempDir('weft-bundle-entry-');
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(ROOT, 'bin/weft.js'), join(dir, 'bin/weft.js'));
  mkdirSync(join(dir, 'dist/sidecar'), { recursive: true });
  const now = Date.now() / 1000;
  writeFileSync(join(dir, 'dist/sidecar/main.js'), "export async function main() { console.log('unbundled'); }\n");
  utimesSync(join(dir, 'dist/sidecar/main.js'), now, now);
  if (bundle) {
    mkdirSync(join(dir, 'dist/sidecar-bundle'));
    writeFileSync(join(dir, 'dist/sidecar-bundle/main.js'), "export async function main(argv, o) { console.log('bundle', JSON.stringify(argv), o.mode); }\n");
    utimesSync(join(dir, 'dist/sidecar-bundle/main.js'), now - bundle.ageS, now - bundle.ageS);
  }
  return dir;
}
const run = (dir: string, verb: string) => spawnSync(process.execPath, [join(dir, 'bin/weft.js'), verb, '--service', 'x'], { encoding: 'utf8', timeout: 20_000 });

describe('bin/weft.js runs the data plane from its bundle', () => {
  it.each(['sidecar', 'gateway'])('weft %s imports dist/sidecar-bundle/main.js when it is at least as new as dist/sidecar/', (verb) => {
    const r = run(tree({ ageS: -5 }), verb);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`bundle ["--service","x"] ${verb}`);
  });

  it('a bundle older than dist/sidecar/ (tsc ran, the bundle step did not): exit 2, says to run make build, runs nothing', () => {
    const r = run(tree({ ageS: 60 }), 'sidecar');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/dist\/sidecar-bundle\/ is older than dist\/sidecar\/; build with `make build`/);
  });

  it('no bundle at all: exit 2, says to run make build', () => {
    const r = run(tree(undefined), 'gateway');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/dist\/sidecar-bundle\/ is missing; build with `make build`/);
  });
});
