// `node --import ./test/harness/import-trace.mjs ...` appends the URL of every module the program
// resolves (ESM imports, CommonJS packages reached through an import, and what CommonJS code
// require()s) to the file named by WEFT_IMPORT_TRACE, one per line. Tests use it to check what a
// command loads without timing it.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';

const file = process.env.WEFT_IMPORT_TRACE;
if (file) {
  register('./import-trace-hooks.mjs', import.meta.url, { data: { file } });
  // require() (the ESM hooks above do not see it): Module._resolveFilename is where every
  // require() of this thread names its file.
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const r = resolve.apply(this, args);
    appendFileSync(file, `${isAbsolute(r) ? pathToFileURL(r).href : r.startsWith('node:') ? r : `node:${r}`}\n`);
    return r;
  };
}
