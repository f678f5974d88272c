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
  const { main } = await import(new URL('sidecar/main.js', dist).href);
  await main(process.argv.slice(3));
} else {
  const { main } = await import(new URL('control-plane/cli/main.js', dist).href);
  await main(process.argv.slice(2));
}
