// Bundles the dashboard (control-plane/dashboard/app, Preact + cytoscape) into dist/dashboard/:
// index.html, app.js (one minified ES module with every dependency inside) and app.css. Run by
// `make build` after tsc; the admin server serves these files under /dashboard/. Nothing is
// fetched at run time from outside the machine: the build fails if the bundle names a URL that
// the page would load (a script, stylesheet or font from elsewhere).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const app = join(root, 'control-plane/dashboard/app');
const out = join(root, 'dist/dashboard');
mkdirSync(out, { recursive: true });

const started = performance.now();
await build({
  entryPoints: [join(app, 'main.tsx')],
  outfile: join(out, 'app.js'),
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  platform: 'browser',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  tsconfig: join(root, 'control-plane/dashboard/tsconfig.json'),
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(join(app, 'index.html'), join(out, 'index.html'));
copyFileSync(join(app, 'app.css'), join(out, 'app.css'));

for (const f of ['index.html', 'app.css']) {
  const text = readFileSync(join(out, f), 'utf8');
  const external = /(?:src|href)\s*=\s*["']?(?:https?:)?\/\/|@import\s+url\(\s*["']?(?:https?:)?\/\/|url\(\s*["']?(?:https?:)?\/\//i.exec(text);
  if (external) throw new Error(`dist/dashboard/${f} loads something from outside the machine (${external[0]}): bundle it instead`);
}
const size = (f) => `${(readFileSync(join(out, f)).length / 1024).toFixed(0)} KiB`;
console.log(`dashboard: dist/dashboard/{index.html, app.js ${size('app.js')}, app.css ${size('app.css')}} in ${Math.round(performance.now() - started)} ms`);
