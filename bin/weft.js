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
if (verb === 'sidecar') {
  // A sidecar runs next to every instance: favour memory over peak speed in V8 (smaller young
  // generation, tighter heap growth). Idle RSS 102 -> 75 MB, CPU per request unchanged within
  // noise (docs/sidecar.md#memory). Set before anything is loaded so the heap starts that way;
  // an operator's own heap flags (NODE_OPTIONS or node's command line) win.
  const own = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  if (!/optimize[-_]for[-_]size|semi[-_]space/.test(own) && process.env.WEFT_DEFAULT_HEAP !== '1') {
    (await import('node:v8')).setFlagsFromString('--optimize-for-size');
  }
  const { main } = await import(new URL('sidecar/main.js', dist).href);
  await main(process.argv.slice(3));
} else {
  const { main } = await import(new URL('control-plane/cli/main.js', dist).href);
  await main(process.argv.slice(2));
}
