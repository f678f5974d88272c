/** `weft apply -f FILE|DIR|-`: validate and store resources; `--dry-run` shows what would change. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { WeftError } from '../../../common/errors.js';
import type { ApplyFile, ApplyResult } from '../../control-plane.js';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, usageError, type Verb } from '../context.js';

const usage = `Usage: weft apply -f FILE|DIR|- [-f ...] [--dry-run]

Validates every document in the files (YAML or JSON, several per file separated by ---) and stores
them all, or none: with any mistake, every error is printed with file, document and field path and
nothing changes. A directory means every *.yaml, *.yml and *.json file in it.

  -f, --filename PATH   file, directory, or - for standard input (repeatable)
  --dry-run             validate and show which resources and which proxies would change; store nothing

${CLIENT_USAGE}

Example:
  weft apply -f deploy/examples/canary.yaml --dry-run`;

async function readInputs(paths: string[], stdin: () => Promise<string>): Promise<ApplyFile[]> {
  const files: ApplyFile[] = [];
  for (const p of paths) {
    if (p === '-') {
      files.push({ name: '-', content: await stdin() });
      continue;
    }
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new WeftError('CLI_USAGE', `cannot read ${p}: no such file or directory`);
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => ['.yaml', '.yml', '.json'].includes(extname(n))).sort();
      if (names.length === 0) throw new WeftError('CLI_USAGE', `${p} holds no .yaml, .yml or .json files`);
      for (const n of names) files.push({ name: join(p, n), content: await readFile(join(p, n), 'utf8') });
    } else {
      files.push({ name: p, content: await readFile(p, 'utf8') });
    }
  }
  return files;
}

import { inlineDescriptors } from '../descriptors.js';

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
    if (!values.filename?.length) throw usageError('apply needs at least one -f FILE|DIR|-', usage);
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
