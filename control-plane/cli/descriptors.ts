/**
 * `weft apply` fills a GRPCTranslation's descriptor set from files next to the YAML, so nobody
 * pastes base64 by hand:
 *   spec.descriptorSetFile: bookstore.binpb        (a FileDescriptorSet, from buf build or protoc)
 *   spec.protoFiles: [bookstore.proto]             (compiled here with buf, shipped in @bufbuild/buf;
 *                                                   google/api/{annotations,http}.proto provided)
 * Paths are relative to the YAML file. The field becomes spec.descriptorSet (base64) before the
 * documents go to the control plane, which validates the result as usual.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { WeftError } from '../../common/errors.js';

const require = createRequire(import.meta.url);

function fail(file: string, doc: number, path: string, message: string): never {
  throw new WeftError('CONFIG_INVALID', `${file}#${doc} ${path}: ${message}`, { details: [{ file, document: doc, path, message }] });
}

/** buf from the @bufbuild/buf package (a development dependency of Weft), or undefined. */
function bufBinary(): string | undefined {
  try {
    return join(dirname(require.resolve('@bufbuild/buf/package.json')), 'bin', 'buf');
  } catch {
    return undefined;
  }
}

function googleApi(): string {
  return join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps', 'googleapis', 'google', 'api');
}

/** Compiles .proto files (paths relative to `base`) into a FileDescriptorSet with buf. */
function compileProtos(base: string, files: string[], where: () => never): Buffer {
  const stage = mkdtempSync(join(tmpdir(), 'weft-protos-'));
  try {
    for (const f of files) {
      const src = resolve(base, f);
      if (!existsSync(src)) where();
      cpSync(src, join(stage, f.replace(/^(\.\.\/)+/, '')));
    }
    if (!files.some((f) => f.startsWith('google/api/'))) {
      mkdirSync(join(stage, 'google/api'), { recursive: true });
      for (const f of ['annotations.proto', 'http.proto']) cpSync(join(googleApi(), f), join(stage, 'google/api', f));
    }
    const out = join(stage, 'out.binpb');
    const buf = bufBinary();
    if (!buf) throw new Error('buf is not installed here (npm i @bufbuild/buf); or build the descriptor yourself and give spec.descriptorSetFile');
    execFileSync(buf, ['build', stage, '-o', out], { cwd: stage, stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** Returns the file's content with descriptorSetFile / protoFiles replaced by descriptorSet. */
export function inlineDescriptors(file: string, content: string): string {
  if (!/descriptorSetFile|protoFiles/.test(content)) return content;
  const base = file === '-' ? process.cwd() : dirname(resolve(file));
  const docs = parseAllDocuments(content);
  let changed = false;
  docs.forEach((d, i) => {
    const v = d.toJS() as { kind?: unknown; spec?: Record<string, unknown> } | null;
    if (!v || v.kind !== 'GRPCTranslation' || !v.spec) return;
    const { descriptorSetFile, protoFiles } = v.spec;
    if (descriptorSetFile === undefined && protoFiles === undefined) return;
    if (descriptorSetFile !== undefined && protoFiles !== undefined) fail(file, i, 'spec.protoFiles', 'give descriptorSetFile or protoFiles, not both');
    let bytes: Buffer;
    if (descriptorSetFile !== undefined) {
      if (typeof descriptorSetFile !== 'string') fail(file, i, 'spec.descriptorSetFile', 'must be a file path');
      const p = resolve(base, descriptorSetFile);
      if (!existsSync(p)) fail(file, i, 'spec.descriptorSetFile', `${p} does not exist`);
      bytes = readFileSync(p);
      d.deleteIn(['spec', 'descriptorSetFile']);
    } else {
      if (!Array.isArray(protoFiles) || !protoFiles.length || !protoFiles.every((x) => typeof x === 'string')) fail(file, i, 'spec.protoFiles', 'must be a list of .proto paths');
      try {
        bytes = compileProtos(base, protoFiles as string[], () => fail(file, i, 'spec.protoFiles', `a file does not exist under ${base}`));
      } catch (e) {
        if (e instanceof WeftError) throw e;
        const err = (e as { stderr?: Buffer }).stderr?.toString().trim();
        fail(file, i, 'spec.protoFiles', `buf could not compile them: ${err || (e as Error).message}`);
      }
      d.deleteIn(['spec', 'protoFiles']);
    }
    d.setIn(['spec', 'descriptorSet'], bytes.toString('base64'));
    changed = true;
  });
  return changed ? docs.map((d) => d.toString()).join('---\n') : content;
}
