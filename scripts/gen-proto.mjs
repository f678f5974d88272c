#!/usr/bin/env node
// Generates proto/gen/ (TypeScript, protobuf-es) from the pinned Envoy xDS v3 protos shipped in
// @grpc/grpc-js-xds (deps/) and Weft's own protos (proto/weft). Reproducible: same inputs, same bytes.
//
// Steps: stage every .proto under build/proto-src (one import root), supply a validate.proto that
// knows `ignore_empty` (the bundled PGV copy predates the Envoy files that use it), then
// `buf generate --include-imports` for the files Weft uses, so only their import closure is generated.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const deps = join(root, 'node_modules/@grpc/grpc-js-xds/deps');
const stage = join(root, 'build/proto-src');


/** Top-level files Weft uses; everything they import is generated too. */
export const ROOTS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/load_stats/v3/lrs.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/trace/v3/opentelemetry.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder.proto',
  'envoy/extensions/filters/http/grpc_web/v3/grpc_web.proto',
  'envoy/extensions/filters/http/compressor/v3/compressor.proto',
  'envoy/extensions/compression/gzip/compressor/v3/gzip.proto',
  'envoy/extensions/compression/brotli/compressor/v3/brotli.proto',
  'envoy/extensions/filters/http/cache/v3/cache.proto',
  'envoy/extensions/http/cache/simple_http_cache/v3/config.proto',
  'envoy/extensions/filters/http/buffer/v3/buffer.proto',
  'envoy/extensions/filters/network/connection_limit/v3/connection_limit.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/random/v3/random.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'xds/type/v3/typed_struct.proto',
  // google.api.http rules (the transcoder reads them from users' descriptor sets) and
  // google.rpc.Status (gRPC error details).
  'google/api/annotations.proto',
  'google/rpc/status.proto',
];

/** Weft's own protos (proto/weft) and the OTLP subset it receives (proto/opentelemetry). */
function weftProtos() {
  return ['weft', 'opentelemetry'].flatMap((tree) => protosUnder(tree));
}
function protosUnder(tree) {
  const dir = join(root, 'proto', tree);
  if (!existsSync(dir)) return [];
  const out = [];
  const walk = (d, rel) => {
    for (const e of readdirSorted(d)) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, `${rel}/${e.name}`);
      else if (e.name.endsWith('.proto')) out.push(`${rel}/${e.name}`);
    }
  };
  walk(dir, tree);
  return out;
}
function readdirSorted(d) {
  return readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
}

if (!existsSync(deps)) {
  console.error(`gen-proto: ${deps} is missing; run \`npm ci\` first`);
  process.exit(2);
}
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
for (const tree of ['envoy-api', 'googleapis', 'xds']) cpSync(join(deps, tree), stage, { recursive: true });
cpSync(join(deps, 'protoc-gen-validate/validate'), join(stage, 'validate'), { recursive: true });
cpSync(join(root, 'proto/weft'), join(stage, 'weft'), { recursive: true });
cpSync(join(root, 'proto/opentelemetry'), join(stage, 'opentelemetry'), { recursive: true });

// validate.proto: add StringRules.ignore_empty (field 26, as in upstream protoc-gen-validate).
const vpath = join(stage, 'validate/validate.proto');
const vsrc = readFileSync(vpath, 'utf8');
const start = vsrc.indexOf('message StringRules {');
let depth = 0;
let end = -1;
for (let i = vsrc.indexOf('{', start); i < vsrc.length; i++) {
  if (vsrc[i] === '{') depth++;
  else if (vsrc[i] === '}' && --depth === 0) { end = i; break; }
}
if (start < 0 || end < 0) throw new Error('gen-proto: StringRules not found in validate.proto');
if (!vsrc.slice(start, end).includes('ignore_empty')) {
  writeFileSync(vpath, `${vsrc.slice(0, end)}    // Added by Weft's gen-proto: used by the Envoy protos, absent from the bundled copy.\n    optional bool ignore_empty = 26;\n${vsrc.slice(end)}`);
}
writeFileSync(join(stage, 'buf.yaml'), 'version: v2\n');

// `--out DIR` generates into DIR/gen instead of proto/gen (the reproducibility test compares them).
const outIdx = process.argv.indexOf('--out');
const outBase = outIdx > 0 ? resolve(process.argv[outIdx + 1]) : join(root, 'proto');
mkdirSync(outBase, { recursive: true });
const files = [...ROOTS, ...weftProtos()];
const args = ['generate', stage, '--template', join(root, 'proto/buf.gen.yaml'), '--include-imports'];
for (const f of files) args.push('--path', join(stage, f));
const bin = join(root, 'node_modules/.bin');
execFileSync(join(bin, 'buf'), args, {
  cwd: outBase,
  stdio: 'inherit',
  env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, BUF_CACHE_DIR: join(root, 'build/buf-cache') },
});
console.log(`gen-proto: generated ${files.length} root files and their imports into ${join(outBase, 'gen')}`);
