#!/usr/bin/env node
// The one `weft` entry point. `weft sidecar ...` runs the data plane; every other verb is the
// control plane / operator CLI. The two programs never import each other, so this file dispatches.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
if (!existsSync(fileURLToPath(dist))) {
  process.stderr.write('weft: dist/ is missing; build first with `make build` (or `npm run build`)\n');
  process.exit(2);
}
const verb = process.argv[2];
const SIDECAR_V8_FLAGS = ''; // V8's defaults: the smaller young generation costs 15-20 % CPU (docs/sidecar.md#memory)
if (verb === 'sidecar') {
  // A sidecar runs next to every instance: a young generation that stays small keeps its RSS
  // down (docs/sidecar.md#memory). Set before anything is loaded so the heap starts that way.
  // WEFT_SIDECAR_V8_FLAGS replaces the default ('' for V8's own defaults); an operator's own heap
  // flags in NODE_OPTIONS or on node's command line win.
  const own = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  const flags = process.env.WEFT_SIDECAR_V8_FLAGS ?? SIDECAR_V8_FLAGS;
  if (flags && !/optimize[-_]for[-_]size|semi[-_]space/.test(own)) {
    const v8 = await import('node:v8');
    for (const f of flags.split(' ').filter(Boolean)) v8.setFlagsFromString(f);
  }
  const { main } = await import(new URL('sidecar/main.js', dist).href);
  await main(process.argv.slice(3));
} else {
  const { main } = await import(new URL('control-plane/cli/main.js', dist).href);
  await main(process.argv.slice(2));
}
