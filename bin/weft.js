#!/usr/bin/env node
// The one `weft` entry point. `weft sidecar ...` and `weft gateway ...` run the data plane; every other verb is the
// control plane / operator CLI. The two programs never import each other, so this file dispatches.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
if (!existsSync(fileURLToPath(dist))) {
  process.stderr.write('weft: dist/ is missing; build first with `make build` (or `npm run build`)\n');
  process.exit(2);
}
const verb = process.argv[2];
if (verb === 'sidecar' || verb === 'gateway') {
  // A sidecar runs next to every instance, so its idle memory is paid many times over. Start-up and
  // config pushes make V8 grow its young generation and optimize code that then runs once (about
  // 30 and 7 MiB an idle sidecar would keep). So by default V8 starts without either and gets them
  // back the first time the sidecar is busy (common/v8-flags.ts HELD_BACK, sidecar/telemetry/
  // busy-policy.ts, docs/sidecar.md#memory-and-cpu). Set before anything loads; a part's `ready`
  // flag is set by the sidecar once it is ready.
  // WEFT_SIDECAR_V8_FLAGS replaces that with fixed V8 flags of the operator's choice ('' for V8's
  // own defaults). V8 flags of the operator's own in NODE_OPTIONS or on node's command line win: a
  // part they touch is left alone, and WEFT_SIDECAR_V8_FLAGS is not applied.
  const own = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  const fixed = process.env.WEFT_SIDECAR_V8_FLAGS;
  // Only flags V8 honours once running are taken (common/v8-flags.ts); any other is refused
  // here, naming NODE_OPTIONS, rather than doing nothing or aborting V8.
  const { runtimeV8Flags, HELD_BACK } = await import(new URL('common/v8-flags.js', dist).href);
  const notOwn = HELD_BACK.filter((h) => !h.own.test(own));
  const ownFlags = notOwn.length < HELD_BACK.length;
  const held = fixed === undefined ? notOwn : [];
  const flags = runtimeV8Flags(fixed === undefined ? held.map((h) => h.idle).join(' ') : ownFlags ? '' : fixed);
  if (flags.error) {
    process.stderr.write(`weft ${verb}: ${flags.error}\n`);
    process.exit(2);
  }
  if (flags.flags.length) {
    const v8 = await import('node:v8');
    for (const f of flags.flags) v8.setFlagsFromString(f);
  }
  // The data plane runs from its bundle (scripts/bundle-sidecar.mjs, part of `make build`): about
  // 4 MiB less idle memory than about 370 separate modules. A bundle older than what tsc last built
  // would run stale code, so that is an error, not a fallback.
  const bundle = new URL('sidecar-bundle/main.js', dist);
  const bundleMs = statSync(bundle, { throwIfNoEntry: false })?.mtimeMs;
  const builtMs = statSync(new URL('sidecar/main.js', dist), { throwIfNoEntry: false })?.mtimeMs;
  if (bundleMs === undefined || (builtMs !== undefined && builtMs > bundleMs)) {
    process.stderr.write(`weft: dist/sidecar-bundle/ is ${bundleMs === undefined ? 'missing' : 'older than dist/sidecar/'}; build with \`make build\` (or \`npm run build\`)\n`);
    process.exit(2);
  }
  const { main } = await import(bundle.href);
  await main(process.argv.slice(3), { busyFlags: held.map((h) => h.busy), readyFlags: held.flatMap((h) => (h.ready ? [h.ready] : [])), mode: verb });
} else {
  const { main } = await import(new URL('control-plane/cli/main.js', dist).href);
  await main(process.argv.slice(2));
}
