// Regression: `weft --help` took 1.6 s because control-plane/cli/main.ts imported every verb, the
// control-plane daemon (xDS server, gRPC, CA) included. Checked by what each command loads, not by
// timing it: node runs the built CLI with a loader hook (test/harness/import-trace.mjs) that
// records every module it resolves.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir, weft } from '../../harness/processes.js';

/** The modules `weft ARGS` resolves, as paths under the repository (node: builtins left out). */
async function loaded(args: string[]): Promise<{ mods: string[]; code: number | null; stderr: string }> {
  const file = join(tempDir('weft-imports-'), 'trace');
  const r = await weft(args, { env: { NODE_OPTIONS: `--import ${join(ROOT, 'test/harness/import-trace.mjs')}`, WEFT_IMPORT_TRACE: file } });
  const mods = [...new Set(readFileSync(file, 'utf8').split('\n').filter((u) => u.startsWith('file:')).map((u) => u.slice(`file://${ROOT}/`.length)))];
  return { mods, code: r.code, stderr: r.stderr };
}

/** What none of the fast commands may load: the daemon, xDS, gRPC, the kind registry's validators, YAML. */
const HEAVY = [/^dist\/control-plane\/control-plane\.js$/, /^dist\/control-plane\/main\.js$/, /^dist\/control-plane\/xds\//, /node_modules\/@grpc\/grpc-js\//, /^dist\/control-plane\/config\/kinds\//, /node_modules\/ajv\//, /node_modules\/yaml\//, /node_modules\/@bufbuild\//];

describe('weft starts without loading what it does not run', () => {
  it.each([[['--help']], [['--version']], [['get', 'svc', '--server', '127.0.0.1:1', '--token', 'x', '--timeout', '1s']]])('weft %j', async (args) => {
    const { mods, code, stderr } = await loaded(args);
    expect(mods).toContain('dist/control-plane/cli/main.js'); // the hook saw the CLI load
    if (args[0] === 'get') {
      // It ran as far as asking the (absent) control plane.
      expect([code, stderr]).toEqual([1, expect.stringContaining('cannot reach the control plane admin API at http://127.0.0.1:1')]);
      expect(mods).toContain('dist/control-plane/cli/verbs/get.js');
    } else expect([code, stderr]).toEqual([0, '']);
    expect(mods.filter((m) => HEAVY.some((h) => h.test(m)))).toEqual([]);
  });

  it('the daemon verb does load them (the check above can see them)', async () => {
    const { mods } = await loaded(['control-plane', '--help']);
    expect(mods).toContain('dist/control-plane/main.js');
    expect(mods.some((m) => /node_modules\/@grpc\/grpc-js\//.test(m))).toBe(true);
  });
});
