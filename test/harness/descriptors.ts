/**
 * Builds a FileDescriptorSet from .proto sources with buf (the binary ships in the
 * @bufbuild/buf npm package; no download), with google/api's http annotations staged beside them
 * from googleapis (vendored by @grpc/grpc-js-xds).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './processes.js';

const ROOT = join(import.meta.dirname, '..', '..');

export function buildDescriptorSet(protoDir: string): Uint8Array {
  const stage = tempDir('weft-proto-');
  cpSync(protoDir, stage, { recursive: true });
  mkdirSync(join(stage, 'google/api'), { recursive: true });
  for (const f of ['annotations.proto', 'http.proto']) cpSync(join(ROOT, 'node_modules/@grpc/grpc-js-xds/deps/googleapis/google/api', f), join(stage, 'google/api', f));
  const out = join(stage, 'out.binpb');
  execFileSync(join(ROOT, 'node_modules/.bin/buf'), ['build', stage, '-o', out], { cwd: stage, stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(out);
}
