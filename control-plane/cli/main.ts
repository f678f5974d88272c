/**
 * `weft`: the operator CLI and the control-plane daemon. One verb per file under verbs/; `weft
 * sidecar` is dispatched to the sidecar program by bin/weft.js before this runs.
 */
import { apply } from './verbs/apply.js';
import { create } from './verbs/create.js';
import { get } from './verbs/get.js';
import { del } from './verbs/delete.js';
import { proxyStatus } from './verbs/proxy-status.js';
import { proxyConfig } from './verbs/proxy-config.js';
import { controlPlane } from './verbs/control-plane.js';
import { token } from './verbs/token.js';
import { ca } from './verbs/ca.js';
import { trace } from './verbs/trace.js';
import { stat } from './verbs/stat.js';
import { cache } from './verbs/cache.js';
import { consumer } from './verbs/consumer.js';
import { key } from './verbs/key.js';
import { explain } from './verbs/explain.js';
import { reportError, type Io, type Verb } from './context.js';

const VERBS: Verb[] = [apply, create, get, del, explain, proxyStatus, proxyConfig, token, ca, trace, stat, cache, consumer, key, controlPlane];

function help(): string {
  const w = Math.max(...VERBS.map((v) => v.name.length), 'sidecar'.length);
  return [
    'Usage: weft VERB [flags]   (weft VERB --help for a verb\'s flags)',
    '',
    'Operate the mesh:',
    ...VERBS.filter((v) => v !== controlPlane).map((v) => `  ${v.name.padEnd(w)}  ${v.summary}`),
    '',
    'Daemons:',
    `  ${'control-plane'.padEnd(w)}  ${controlPlane.summary}`,
    `  ${'sidecar'.padEnd(w)}  run a sidecar proxy next to a service instance`,
  ].join('\n');
}

export const stdio: Io = {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  stdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** Runs one CLI invocation and returns its exit code. */
export async function runCli(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  const verb = VERBS.find((v) => v.name === name);
  if (!verb) {
    io.err(`weft: unknown verb '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest, io);
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(e as Error).message}\n\n${verb.usage}`);
      return 2;
    }
    return reportError(io, e);
  }
}

export async function main(argv: string[]): Promise<void> {
  process.exitCode = await runCli(argv);
}
