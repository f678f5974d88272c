// Rewrites a generated protobuf-es module (dist/proto/gen/**/*_pb.js) for the data plane's bundle
// so that its descriptors are built on first use (common/lazy-desc.ts says why and how). Used by
// bundle-sidecar.mjs; test/unit/proto/lazy-descriptors.test.ts checks the rewrite of every
// generated module against the module itself.
//
// Each `export const NAME = fileDesc|messageDesc|enumDesc|extDesc|serviceDesc(...)` line becomes
// `export const NAME = lazyDesc(() => <the same call on real descriptors>, KNOWN)`, where KNOWN
// is what the stand-in may answer before it is built: the descriptor's kind and type name (a
// file's name), read here from the module as tsc built it. Every other line is left as it is.

/** The start of a descriptor line; DESC_LINE is the whole line this rewrite understands. */
const DESC_START = /^export const (\w+) = (?:\/\*@__PURE__\*\/ )?(fileDesc|messageDesc|enumDesc|extDesc|serviceDesc)\(/;
const DESC_LINE = new RegExp(`${DESC_START.source}(.*)\\);$`);
const FILE_ARGS = /^("[A-Za-z0-9+/=]+")(?:, (\[[\w, ]*\]))?$/;
const DESC_ARGS = /^(\w+)((?:, \d+)+)$/;

/** What a stand-in answers unbuilt: the kind and the type name (a file: its name). */
function knownOf(desc) {
  return desc.kind === 'file' ? { kind: 'file', name: desc.name } : { kind: desc.kind, typeName: desc.typeName };
}

/**
 * The module's text with its descriptors made lazy. `exports`: the module's own exports (as
 * imported), for KNOWN; `lazyDescUrl`: the import specifier of common/lazy-desc.js.
 * Throws on a descriptor line it does not understand rather than leave it eager.
 */
export function lazyDescriptorModule(text, exports, lazyDescUrl) {
  let n = 0;
  const lines = text.split('\n').map((line) => {
    if (!DESC_START.test(line)) return line;
    const m = DESC_LINE.exec(line);
    if (!m) throw new Error(`lazy descriptors: cannot rewrite ${line.slice(0, 120)}`);
    const [, name, call, args] = m;
    const desc = exports[name];
    if (!desc || typeof desc !== 'object' || typeof desc.kind !== 'string') throw new Error(`lazy descriptors: export ${name} is not a descriptor`);
    let real;
    if (call === 'fileDesc') {
      const a = FILE_ARGS.exec(args);
      if (!a) throw new Error(`lazy descriptors: cannot read the arguments of ${name} = fileDesc(...)`);
      real = `${call}(${a[1]}${a[2] ? `, ${a[2]}.map(__weftRealDesc)` : ''})`;
    } else {
      const a = DESC_ARGS.exec(args);
      if (!a) throw new Error(`lazy descriptors: cannot read the arguments of ${name} = ${call}(${args})`);
      real = `${call}(__weftRealDesc(${a[1]})${a[2]})`;
    }
    n++;
    return `export const ${name} = /*@__PURE__*/ __weftLazyDesc(() => ${real}, ${JSON.stringify(knownOf(desc))});`;
  });
  if (n === 0) return text;
  return `import { lazyDesc as __weftLazyDesc, realDesc as __weftRealDesc } from ${JSON.stringify(lazyDescUrl)};\n${lines.join('\n')}`;
}
