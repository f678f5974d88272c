// Bundles the data plane (`weft sidecar` / `weft gateway`, entry dist/sidecar/main.js as tsc built it)
// into dist/sidecar-bundle/: main.js plus one chunk per on-demand import. Run by `make build` after
// tsc; bin/weft.js starts the data plane from here. Why: a sidecar runs next to every instance, and
// ~300 separate ES modules cost memory of their own (a module record, namespace and scope each, and
// the source kept for lazy compilation): one bundle is ~4 MiB less idle RSS (issue 24;
// docs/sidecar.md#memory-and-cpu). Not minified: stack traces name our functions (V8 takes a frame's
// name from the source, so they do without keepNames); `node --enable-source-maps` maps them to the
// TypeScript (esbuild chains tsc's source maps).
// No keepNames: it wraps every function and class in __name(), which defines a `name` property on
// each closure as it is created. That is a property store per closure (about 0.8 MiB of idle heap,
// most of it the 2,400 descriptor fields' toString and getDefaultValue closures) and work on every
// request that creates one (sidecar/http/attempts.ts creates three per attempt). Only where esbuild
// renames a colliding identifier does a function's `name` differ from the source's (`fail2`);
// nothing in the data plane reads one.
//
// Loaded from node_modules as before, not bundled (`external`): the libraries a sidecar loads only
// when its config asks for them (tracing's OpenTelemetry SDK, jose, ioredis, fast-xml-parser, Ajv).
// They stay on-demand either way; keeping them outside means one copy of what they share with
// always-loaded code (@opentelemetry/api), no code of theirs that looks for files beside itself
// (__dirname) running from here, and e2e/sidecar-lazy-load can still see which ones a sidecar loaded.
//
// The generated protobuf modules (dist/proto/gen) embed each .proto file's descriptor. Their
// options carry custom extensions (protoc-gen-validate rules, udpa/envoy/xds annotations: 14 % of
// the bytes, about 0.7 MiB of heap once decoded) that protobuf-es keeps, undecoded, as unknown fields on every option
// message, holding views into the decoded descriptor bytes. The sidecar reads no custom option of
// an embedded descriptor (the gRPC-JSON transcoder reads google.api.http from the descriptor sets
// that users configure, not these), so the bundle drops them (scripts/strip-descriptors.mjs).
// Standard options (map_entry, packed, deprecated, ...) stay. The control plane is not bundled
// and keeps them all. Their descriptors are then made lazy (scripts/lazy-descriptors.mjs; the
// sidecar decodes with wire tables and builds none unless asked for JSON), protobuf-es's own
// google.protobuf modules too, and the serialized forms leave the source for descriptors.json
// beside the bundle (common/lazy-desc.ts says why).
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lazyDescriptorModule } from './lazy-descriptors.mjs';
import { FILE_DESC, stripDescriptorExtensions } from './strip-descriptors.mjs';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist/sidecar-bundle');
const entry = join(root, 'dist/sidecar/main.js');
const LAZY_DESC = join(root, 'dist/common/lazy-desc.js');
const EXTERNAL = ['@opentelemetry/*', 'jose', 'ioredis', 'fast-xml-parser', 'ajv', 'ajv/*', 'ajv-formats', '@grpc/*'];

let descriptorBytes = [0, 0];
/** The serialized descriptors the lazy rewrite takes out of the source (common/lazy-desc.ts), written beside the bundle. */
const DESC_DATA = 'descriptors.json';
const descData = { files: new Map(), at: `new URL(${JSON.stringify(`./${DESC_DATA}`)}, import.meta.url)` };
/** esbuild plugin: the generated modules' embedded descriptors, stripped as above. */
const stripPlugin = {
  name: 'strip-descriptor-extensions',
  setup(b) {
    b.onLoad({ filter: /[\\/]dist[\\/]proto[\\/]gen[\\/].*_pb\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      let n = 0;
      const contents = text.replace(new RegExp(FILE_DESC, 'g'), (_m, b64) => {
        n++;
        const out = stripDescriptorExtensions(b64);
        descriptorBytes = [descriptorBytes[0] + b64.length, descriptorBytes[1] + out.length];
        return `fileDesc("${out}"`;
      });
      if (n !== 1) throw new Error(`${args.path}: expected one fileDesc("...") call, found ${n}`);
      // ... and its descriptors built on first use (common/lazy-desc.ts), named by what tsc built.
      const lazy = lazyDescriptorModule(contents, await import(pathToFileURL(args.path).href), LAZY_DESC, descData);
      return { contents: lazy, loader: 'js', resolveDir: dirname(args.path) };
    });
    // protobuf-es's own google.protobuf modules too (descriptor.proto alone is about 35 message
    // descriptors, which only building another descriptor uses).
    b.onLoad({ filter: /[\\/]node_modules[\\/]@bufbuild[\\/]protobuf[\\/]dist[\\/]esm[\\/]wkt[\\/]google[\\/]protobuf[\\/][a-z_]+_pb\.js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const lazy = lazyDescriptorModule(text, await import(pathToFileURL(args.path).href), LAZY_DESC, descData);
      if (lazy === text) throw new Error(`${args.path}: no descriptor to make lazy`);
      return { contents: lazy, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * esbuild plugin: prom-client requires the OpenTelemetry API when it loads, for the trace ids of
 * exemplars (processCpuTotal.js), which Weft never turns on; that require alone cost an idle
 * sidecar about 0.5 MiB of heap. Its copy of the API is a stand-in that requires the real one on
 * first use. The sidecar's own tracing loads the API with the SDK (sidecar/telemetry/tracing.ts).
 */
const otelApiOnUsePlugin = {
  name: 'otel-api-on-use',
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\/api$/ }, (args) => (/[\\/]node_modules[\\/]prom-client[\\/]/.test(args.importer) ? { path: 'otel-api-on-use', namespace: 'weft-on-use' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'weft-on-use' }, () => ({
      contents: "module.exports = new Proxy({}, { get: (_t, key) => require('@opentelemetry/api')[key] });",
      loader: 'js',
      resolveDir: root,
    }));
  },
};

const started = performance.now();
rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [entry],
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: EXTERNAL,
  sourcemap: 'linked',
  // CommonJS dependencies inside the bundle (pino, prom-client) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __weftCreateRequire } from 'node:module'; const require = __weftCreateRequire(import.meta.url);" },
  metafile: true,
  plugins: [stripPlugin, otelApiOnUsePlugin],
  legalComments: 'none',
  logLevel: 'warning',
});
writeFileSync(join(out, DESC_DATA), JSON.stringify(Object.fromEntries(descData.files)));
// A bundled module that reads a file beside itself would look in dist/sidecar-bundle/ (and an ES
// module has no __dirname at all): fail the build rather than the sidecar at run time. pino's
// transports (worker threads) are the known, unreachable exception: the access log uses
// pino.destination, never a transport.
const allowed = /thread-stream|pino-worker|"worker\.js"|"file\.js"/;
for (const f of Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'))) {
  const lines = readFileSync(join(root, f), 'utf8').split('\n');
  const bad = lines.filter((l) => /\b__dirname\b|\b__filename\b/.test(l) && !allowed.test(l));
  if (bad.length) throw new Error(`${f}: bundled code uses __dirname/__filename, which a bundle cannot honour:\n${bad.slice(0, 5).join('\n')}`);
}
const outputs = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js'));
const kib = (n) => `${Math.round(n / 1024)} KiB`;
console.log(`sidecar bundle: dist/sidecar-bundle/main.js ${kib(result.metafile.outputs[outputs.find(([, o]) => o.entryPoint)?.[0] ?? ''].bytes)} + ${outputs.length - 1} chunks (shared code and on-demand imports) in ${Math.round(performance.now() - started)} ms; descriptors ${kib(descriptorBytes[0])} -> ${kib(descriptorBytes[1])} of base64 without custom option extensions, in ${DESC_DATA}`);
