/** `weft apply -f FILE|DIR|-`: validate and store resources; `--dry-run` shows what would change. */
import { parseArgs } from 'node:util';
import type { ApplyResult } from '../../control-plane.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Verb } from '../context.js';
import { inlineDescriptors } from '../descriptors.js';
import { readInputs } from '../inputs.js';

const usage = `Usage: weft apply -f FILE|DIR|- [-f ...] [--dry-run]

Validates every document in the files (YAML or JSON, several per file separated by ---) and stores
them all, or none: with any mistake, every error is printed with file, document and field path and
nothing changes. A directory means every *.yaml, *.yml and *.json file in it.

  -f, --filename PATH   file, directory, or - for standard input (repeatable)
  --dry-run             validate and show which resources and which proxies would change; store nothing

${CLIENT_USAGE}

Examples:
  weft apply -f deploy/examples/canary.yaml   # a 90/10 canary of orders (in the repository)
  weft apply -f orders.yaml --dry-run
  weft apply -f mesh/            # every .yaml, .yml and .json file in mesh/
  cat orders.yaml | weft apply -f -

Undo with \`weft delete -f orders.yaml\` (deletes every resource the file names).`;

export const apply: Verb = {
  name: 'apply',
  summary: 'create or update resources from files',
  usage,
  async run(args, io) {
    const { values } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, filename: { type: 'string', short: 'f', multiple: true }, 'dry-run': { type: 'boolean' } },
      allowPositionals: false,
    });
    if (!values.filename?.length) throw usageError('apply needs at least one -f FILE|DIR|-');
    const files = (await readInputs(values.filename, io.stdin)).map((f) => ({ ...f, content: inlineDescriptors(f.name, f.content) }));
    const client = new AdminClient(values);
    const dry = values['dry-run'] === true;
    const result = await client.request<ApplyResult>('POST', `/v1/apply${dry ? '?dryRun=1' : ''}`, { files });
    for (const r of result.resources) io.out(`${r.key} ${dry && r.action !== 'unchanged' ? `${r.action} (dry run)` : r.action}`);
    if (dry) {
      if (result.proxies.length === 0) io.out('no connected proxy would change');
      for (const p of result.proxies) io.out(`proxy ${p.nodeId} would receive new ${p.types.join(', ')}`);
    }
    for (const w of result.warnings ?? []) io.err(`warning: ${w}`);
    return 0;
  },
};
