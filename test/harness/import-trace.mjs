// `node --import ./test/harness/import-trace.mjs ...` appends the URL of every module the program
// resolves (ESM imports, and CommonJS packages reached through an import) to the file named by
// WEFT_IMPORT_TRACE, one per line. Tests use it to check what a command loads without timing it.
import { register } from 'node:module';

if (process.env.WEFT_IMPORT_TRACE) register('./import-trace-hooks.mjs', import.meta.url, { data: { file: process.env.WEFT_IMPORT_TRACE } });
