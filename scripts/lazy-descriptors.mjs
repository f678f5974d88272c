// Rewrites a generated protobuf-es module (dist/proto/gen/**/*_pb.js) for the data plane's bundle
// so that its descriptors are built on first use (common/lazy-desc.ts says why and how). Used by
// bundle-sidecar.mjs; test/unit/proto/lazy-descriptors.test.ts checks the rewrite of every
// generated module against the module itself.
//
// Each `export const NAME = fileDesc|messageDesc|enumDesc|extDesc|serviceDesc|boot(...)` line becomes
// `export const NAME = lazyDesc(() => <the same call on real descriptors>, KNOWN)`, where KNOWN
// is what the stand-in may answer before it is built: the descriptor's kind and type name (a
// file's name, and the wire tables of a file's messages, common/wire-table.ts), read here from the
// module as tsc built it. A file's serialized descriptor leaves the source for a data file beside
// the bundle (`descData`). Every other line is left as it is.

/** The start of a descriptor line; DESC_LINE is the whole line this rewrite understands. */
const DESC_START = /^export const (\w+) = (?:\/\*@__PURE__\*\/ )?(fileDesc|messageDesc|enumDesc|extDesc|serviceDesc|boot)\(/;
const DESC_LINE = new RegExp(`${DESC_START.source}(.*)\\);$`);
const FILE_ARGS = /^("[A-Za-z0-9+/=]+")(?:, (\[[\w, ]*\]))?$/;
const DESC_ARGS = /^(\w+)((?:, \d+)+)$/;

const { compactWire } = await import(new URL('../dist/common/wire-table.js', import.meta.url).href);
const EDITION_PROTO3 = 999;

/** Every message type of a file, nested ones too. */
function messagesOf(file) {
  const out = [];
  const add = (m) => (out.push(m), m.nestedMessages.forEach(add));
  file.messages.forEach(add);
  return out;
}

/**
 * What a stand-in answers unbuilt: the kind and the type name (a file: its name). A proto3 file
 * also carries the wire tables (common/wire-table.ts) of all its message types, so the sidecar
 * decodes them unbuilt: the file's stand-in is in the bundle whenever one of its messages is used
 * or a used file imports it (a message's own stand-in is dropped when nothing names it).
 */
function knownOf(desc) {
  if (desc.kind !== 'file') return { kind: desc.kind, typeName: desc.typeName };
  if (desc.edition !== EDITION_PROTO3) return { kind: 'file', name: desc.name };
  return { kind: 'file', name: desc.name, wire: Object.fromEntries(messagesOf(desc).map((m) => [m.typeName, compactWire(m)])) };
}

/**
 * The module's text with its descriptors made lazy. `exports`: the module's own exports (as
 * imported), for KNOWN; `lazyDescUrl`: the import specifier of common/lazy-desc.js. `data`: where
 * a file descriptor's serialized form goes (`data.files`, file name -> base64), out of the
 * source, and `data.at`, the JavaScript expression of the URL the bundle writes them to
 * (common/lazy-desc.ts says why).
 * Throws on a descriptor line it does not understand rather than leave it eager.
 */
export function lazyDescriptorModule(text, exports, lazyDescUrl, data) {
  let n = 0;
  const lines = text.split('\n').map((line) => {
    if (!DESC_START.test(line)) return line;
    const m = DESC_LINE.exec(line);
    if (!m) throw new Error(`lazy descriptors: cannot rewrite ${line.slice(0, 120)}`);
    const [, name, call, args] = m;
    const desc = exports[name];
    if (!desc || typeof desc !== 'object' || typeof desc.kind !== 'string') throw new Error(`lazy descriptors: export ${name} is not a descriptor`);
    let real;
    if (call === 'boot') {
      // protobuf-es's own google/protobuf/descriptor.proto: a file descriptor from an object literal, no imports.
      if (!args.startsWith('{') || !args.endsWith('}')) throw new Error(`lazy descriptors: cannot read the argument of ${name} = boot(...)`);
      real = `boot(${args})`;
    } else if (call === 'fileDesc') {
      const a = FILE_ARGS.exec(args);
      if (!a) throw new Error(`lazy descriptors: cannot read the arguments of ${name} = fileDesc(...)`);
      if (data.files.has(desc.name)) throw new Error(`lazy descriptors: ${desc.name} twice`);
      data.files.set(desc.name, JSON.parse(a[1]));
      real = `${call}(__weftDescData(${JSON.stringify(desc.name)})${a[2] ? `, ${a[2]}.map(__weftRealDesc)` : ''})`;
    } else {
      const a = DESC_ARGS.exec(args);
      if (!a) throw new Error(`lazy descriptors: cannot read the arguments of ${name} = ${call}(${args})`);
      real = `${call}(__weftRealDesc(${a[1]})${a[2]})`;
    }
    n++;
    return `export const ${name} = /*@__PURE__*/ __weftLazyDesc(() => ${real}, ${JSON.stringify(knownOf(desc))});`;
  });
  if (n === 0) return text;
  return `import { lazyDesc as __weftLazyDesc, realDesc as __weftRealDesc, descData as __weftDescData, descDataAt as __weftDescDataAt } from ${JSON.stringify(lazyDescUrl)};\n__weftDescDataAt(${data.at});\n${lines.join('\n')}`;
}
