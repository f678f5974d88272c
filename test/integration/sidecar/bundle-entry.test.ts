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
  mkdirSync(join(dir, 'dist/common'));
  copyFileSync(join(ROOT, 'dist/common/v8-flags.js'), join(dir, 'dist/common/v8-flags.js'));
  const now = Date.now() / 1000;
  writeFileSync(join(dir, 'dist/sidecar/main.js'), "export async function main() { console.log('unbundled'); }\n");
  utimesSync(join(dir, 'dist/sidecar/main.js'), now, now);
  if (bundle) {
    mkdirSync(join(dir, 'dist/sidecar-bundle'));
    // The stand-in also reports the young generation's size after allocating well past it, and
    // whether V8 optimizes a function it is told to (before and after it sets the busy flags it
    // was given), to show which V8 flags bin/weft.js applied (WEFT_SIDECAR_V8_FLAGS, below).
    writeFileSync(
      join(dir, 'dist/sidecar-bundle/main.js'),
      `import v8 from 'node:v8';
function optimizes() {
  v8.setFlagsFromString('--allow-natives-syntax');
  return new Function(\`const hot = (n) => { let s = 0; for (let i = 0; i < n; i++) s += i % 7; return s; };
    %PrepareFunctionForOptimization(hot); hot(10); %OptimizeFunctionOnNextCall(hot); hot(10);
    return (%GetOptimizationStatus(hot) & 16) !== 0;\`)();
}
export async function main(argv, o) {
  console.log('bundle', JSON.stringify(argv), o.mode);
  if (process.env.NEW_SPACE) {
    const keep = [];
    for (let i = 0; i < 3e6; i++) { keep.push({ i }); if (keep.length > 2e5) keep.length = 0; }
    console.log('new space', v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576, 'busy flags', JSON.stringify(o.busyFlags));
  }
  if (process.env.FLUSH) {
    // Bytecode of a function called once, then not: kept or dropped over three full GCs. The GCs
    // come from allocation (a forced gc() never drops bytecode); bounded in steps.
    const { PerformanceObserver, constants } = await import('node:perf_hooks');
    const body = Array.from({ length: 3000 }, (_, i) => \`s += a[\${i} % a.length] * \${i};\`).join('\\n');
    const once = new Function(\`return function inner(a) { let s = 0;\\n\${body}\\nreturn s; };\`)();
    once([1, 2, 3]);
    const before = v8.getHeapCodeStatistics().bytecode_and_metadata_size;
    let majors = 0;
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++; });
    obs.observe({ entryTypes: ['gc'] });
    const ring = new Array(64);
    for (let step = 0, i = 0; majors < 3 && step < 2000; step++) {
      for (let k = 0; k < 200; k++) ring[i++ % 64] = new Array(20000).fill(i);
      await new Promise((r) => setImmediate(r));
    }
    obs.disconnect();
    const dropped = before - v8.getHeapCodeStatistics().bytecode_and_metadata_size;
    console.log('majors', majors, 'bytecode dropped', dropped > 200000, 'busy flags', JSON.stringify(o.busyFlags), typeof once);
  }
  if (process.env.REDUCER) {
    // Start-up: the old generation grows before any full GC (which arms V8's memory reducer), then
    // the sidecar is ready and idle. Prints ms from ready to the first full GC (bounded: 20 s).
    const { PerformanceObserver, constants } = await import('node:perf_hooks');
    const keep = [];
    for (let i = 0; i < 60000; i++) keep.push({ i, s: 'v' + i });
    await new Promise((r) => setTimeout(r, 50));
    let majors = 0;
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++; });
    obs.observe({ entryTypes: ['gc'] });
    for (const f of o.readyFlags ?? []) v8.setFlagsFromString(f);
    const t0 = performance.now();
    for (let step = 0; majors === 0 && step < 200; step++) await new Promise((r) => setTimeout(r, 100));
    obs.disconnect();
    console.log('first full gc after ready', majors ? Math.round((performance.now() - t0) / 100) / 10 + ' s' : 'none in 20 s', 'ready flags', JSON.stringify(o.readyFlags), keep.length);
  }
  if (process.env.OPT) {
    const before = optimizes();
    for (const f of o.busyFlags) v8.setFlagsFromString(f);
    console.log('optimizes', before, 'when busy', optimizes());
  }
}
`,
    );
    utimesSync(join(dir, 'dist/sidecar-bundle/main.js'), now - bundle.ageS, now - bundle.ageS);
  }
  return dir;
}
const run = (dir: string, verb: string, env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(dir, 'bin/weft.js'), verb, '--service', 'x'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_OPTIONS: '', ...env } });

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

  it('applies the default young-generation policy flag, and WEFT_SIDECAR_V8_FLAGS in its place', () => {
    const dir = tree({ ageS: -5 });
    // By default the young generation keeps its start size (2 x 1 MiB) until the sidecar is busy.
    expect(run(dir, 'sidecar', { NEW_SPACE: '1' }).stdout).toMatch(/new space 2 busy flags \["--semi-space-growth-factor=2","--turbofan","--bytecode-old-age=5","--gc-memory-reducer-start-delay-ms=8000 --no-optimize-for-size"\]/);
    // '' is V8's own defaults: the same allocation grows it (to 2 x 16 MiB).
    expect(run(dir, 'sidecar', { NEW_SPACE: '1', WEFT_SIDECAR_V8_FLAGS: '' }).stdout).toMatch(/new space 32 busy flags \[\]/);
    expect(run(dir, 'sidecar', { NEW_SPACE: '1', WEFT_SIDECAR_V8_FLAGS: '--semi_space_growth_factor=1' }).stdout).toMatch(/new space 2 busy flags \[\]/);
    // A heap flag of the operator's own: that part is theirs, the compiler is still held back.
    expect(run(dir, 'sidecar', { NEW_SPACE: '1', NODE_OPTIONS: '--max-semi-space-size=16' }).stdout).toMatch(/busy flags \["--turbofan","--bytecode-old-age=5","--gc-memory-reducer-start-delay-ms=8000 --no-optimize-for-size"\]/);
  });

  it('holds back the optimizing compiler until busy; WEFT_SIDECAR_V8_FLAGS or an own compiler flag leaves it alone', () => {
    const dir = tree({ ageS: -5 });
    expect(run(dir, 'gateway', { OPT: '1' }).stdout).toMatch(/optimizes false when busy true/);
    expect(run(dir, 'sidecar', { OPT: '1', WEFT_SIDECAR_V8_FLAGS: '' }).stdout).toMatch(/optimizes true when busy true/);
    // Kept off for good: the variable takes --no-turbofan, and no busy flag turns it back on.
    expect(run(dir, 'sidecar', { OPT: '1', WEFT_SIDECAR_V8_FLAGS: '--no-turbofan' }).stdout).toMatch(/optimizes false when busy false/);
    // The operator's own (node's command line): not overridden when busy, and the heap part still applies.
    const own = spawnSync(process.execPath, ['--no-turbofan', join(dir, 'bin/weft.js'), 'sidecar'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, NODE_OPTIONS: '', OPT: '1', NEW_SPACE: '1' },
    });
    expect(own.stdout).toMatch(/busy flags \["--semi-space-growth-factor=2","--bytecode-old-age=5","--gc-memory-reducer-start-delay-ms=8000 --no-optimize-for-size"\]/);
    expect(own.stdout).toMatch(/optimizes false when busy false/);
  });

  it('idle, drops the bytecode of a function that stopped running at the next full GCs; V8 keeps it for 5 by default', () => {
    const dir = tree({ ageS: -5 });
    expect(run(dir, 'sidecar', { FLUSH: '1' }).stdout).toMatch(/bytecode dropped true busy flags \["--semi-space-growth-factor=2","--turbofan","--bytecode-old-age=5","--gc-memory-reducer-start-delay-ms=8000 --no-optimize-for-size"\]/);
    expect(run(dir, 'sidecar', { FLUSH: '1', WEFT_SIDECAR_V8_FLAGS: '' }).stdout).toMatch(/bytecode dropped false busy flags \[\]/);
    expect(run(dir, 'sidecar', { FLUSH: '1', WEFT_SIDECAR_V8_FLAGS: '--bytecode-old-age=1' }).stdout).toMatch(/bytecode dropped true busy flags \[\]/);
    // The operator's own (node's command line): left alone, and not set when busy either.
    const own = spawnSync(process.execPath, ['--bytecode-old-age=5', join(dir, 'bin/weft.js'), 'sidecar'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE_OPTIONS: '', FLUSH: '1' } });
    expect(own.stdout).toMatch(/bytecode dropped false busy flags \["--semi-space-growth-factor=2","--turbofan","--gc-memory-reducer-start-delay-ms=8000 --no-optimize-for-size"\]/);
  });

  it('idle, V8 gives start-up memory back within seconds of ready; by default 8 s after the heap grew', () => {
    const dir = tree({ ageS: -5 });
    const held = run(dir, 'sidecar', { REDUCER: '1' }).stdout;
    expect(held).toMatch(/ready flags \["--optimize-for-size"\]/);
    // Armed 1.5 s after the heap grew, and optimizing for memory it does not wait for allocation to calm down.
    const at = Number(/first full gc after ready ([\d.]+) s/.exec(held)?.[1]);
    expect(at, held).toBeLessThan(5);
    // V8's own: the memory reducer's first GC 8 s after the heap grew (a constant of V8 11; a
    // newer V8 that changes it fails here, which is the time to look at this part again).
    const dflt = run(dir, 'sidecar', { REDUCER: '1', WEFT_SIDECAR_V8_FLAGS: '' }).stdout;
    expect(Number(/first full gc after ready ([\d.]+) s/.exec(dflt)?.[1]), dflt).toBeGreaterThan(6);
  });

  // Set in a running V8, --max-semi-space-size changes nothing (measured: new space 32 MiB either
  // way) and --single-threaded-gc aborts V8 (a fatal CHECK): refused before anything runs.
  it.each([
    ['--max-semi-space-size=4 --semi-space-growth-factor=1', /--max-semi-space-size=4 cannot be set in a running V8 .*NODE_OPTIONS='--max-semi-space-size=4'/],
    ['--single-threaded-gc', /--single-threaded-gc cannot be set in a running V8/],
    ['--max-old-space-size=64', /--max-old-space-size=64 cannot be set in a running V8/],
    ['--semi-space-growth-factor=x', /--semi-space-growth-factor takes a whole number/],
    ['--trace-gc=1', /--trace-gc takes no value/],
    ['semi-space-growth-factor=1', /semi-space-growth-factor=1 cannot be set in a running V8/],
  ])('WEFT_SIDECAR_V8_FLAGS=%s: exit 2 with the reason, nothing runs', (flags, why) => {
    const r = run(tree({ ageS: -5 }), 'sidecar', { WEFT_SIDECAR_V8_FLAGS: flags });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(why);
  });
});
