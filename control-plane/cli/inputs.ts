/** The files `-f FILE|DIR|-` names (apply, delete): each file's name and text. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { WeftError } from '../../common/errors.js';
import type { ApplyFile } from '../control-plane.js';

/** Reads every -f: a file, every *.yaml, *.yml and *.json of a directory, or `-` for standard input. */
export async function readInputs(paths: string[], stdin: () => Promise<string>): Promise<ApplyFile[]> {
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
