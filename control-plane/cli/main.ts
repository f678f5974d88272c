/**
 * `weft`: the operator CLI and the control-plane daemon. One verb per file under verbs/; `weft
 * sidecar` is dispatched to the sidecar program by bin/weft.js before this runs.
 *
 * The verbs are a registry of names and loaders: an invocation imports only the verb it runs
 * (the daemon alone pulls in the xDS server, gRPC and the CA), and `weft --help` and `weft
 * --version` import none, so the CLI starts in about the time node itself takes.
 */
import { readFileSync } from 'node:fs';
import { reportError, type Io, type Verb } from './context.js';

export interface VerbEntry {
  name: string;
  /** One line for `weft --help`; the verb module's own `summary` says the same (a test checks). */
  summary: string;
  load: () => Promise<Verb>;
}

/** Every verb, in `weft --help` order; `daemon` ones are listed apart. */
export const VERBS: readonly (VerbEntry & { daemon?: true })[] = [
  { name: 'apply', summary: 'create or update resources from files', load: async () => (await import('./verbs/apply.js')).apply },
  { name: 'create', summary: 'create a TLS Secret from certificate and key files', load: async () => (await import('./verbs/create.js')).create },
  { name: 'get', summary: 'list or show resources', load: async () => (await import('./verbs/get.js')).get },
  { name: 'delete', summary: 'delete resources by kind and name, or every resource a file names', load: async () => (await import('./verbs/delete.js')).del },
  { name: 'explain', summary: 'show what the mesh will do with a request (routes, policies, endpoints)', load: async () => (await import('./verbs/explain.js')).explain },
  { name: 'dashboard', summary: 'print the URL of the web dashboard (--open: open it in a browser)', load: async () => (await import('./verbs/dashboard.js')).dashboard },
  { name: 'proxy-status', summary: 'show the xDS sync state of every connected proxy', load: async () => (await import('./verbs/proxy-status.js')).proxyStatus },
  { name: 'proxy-config', summary: 'show the xDS resources served to a proxy', load: async () => (await import('./verbs/proxy-config.js')).proxyConfig },
  { name: 'token', summary: 'create, list or revoke join tokens for sidecars', load: async () => (await import('./verbs/token.js')).token },
  { name: 'ca', summary: "show the mesh CA's roots, or rotate the root", load: async () => (await import('./verbs/ca.js')).ca },
  { name: 'trace', summary: 'list traces, or show one as a waterfall', load: async () => (await import('./verbs/trace.js')).trace },
  { name: 'stat', summary: 'success rate, req/s and latency percentiles per service or route', load: async () => (await import('./verbs/stat.js')).stat },
  { name: 'cache', summary: "purge gateways' HTTP caches by tag or URL", load: async () => (await import('./verbs/cache.js')).cache },
  { name: 'consumer', summary: 'create, list or delete API Consumers', load: async () => (await import('./verbs/consumer.js')).consumer },
  { name: 'key', summary: "issue or revoke a Consumer's API keys", load: async () => (await import('./verbs/key.js')).key },
  { name: 'version', summary: 'print the weft version', load: async () => versionVerb },
  { name: 'control-plane', summary: 'run the control plane daemon', daemon: true, load: async () => (await import('./verbs/control-plane.js')).controlPlane },
];

/** The version in Weft's package.json (found upwards from this file: dist/ or the sources). */
export function weftVersion(): string {
  for (let dir = new URL('./', import.meta.url); ; dir = new URL('../', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'weft' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      /* no package.json here: look further up */
    }
    if (dir.pathname === '/') return 'unknown';
  }
}

const versionVerb: Verb = {
  name: 'version',
  summary: 'print the weft version',
  usage: 'Usage: weft version   (or weft --version)\n\nPrints the version of this weft (from its package.json).',
  async run(_args, io) {
    io.out(`weft ${weftVersion()}`);
    return 0;
  },
};

function help(): string {
  const w = Math.max(...VERBS.map((v) => v.name.length), 'sidecar'.length);
  return [
    "Usage: weft VERB [flags]   (weft VERB --help for a verb's flags; weft --version)",
    '',
    'Operate the mesh:',
    ...VERBS.filter((v) => !v.daemon).map((v) => `  ${v.name.padEnd(w)}  ${v.summary}`),
    '',
    'Daemons:',
    ...VERBS.filter((v) => v.daemon).map((v) => `  ${v.name.padEnd(w)}  ${v.summary}`),
    `  ${'sidecar'.padEnd(w)}  run a sidecar proxy next to a service instance`,
    `  ${'gateway'.padEnd(w)}  run the edge gateway (the sidecar program in gateway mode)`,
    '',
    'Namespaced verbs (get, delete, create, consumer, key, token, stat) take -n/--namespace NS,',
    'default "default"; listings take -A/--all-namespaces for every namespace.',
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

/** The one line a usage error gets after its message. */
export const seeHelp = (verb?: string): string => `  see \`weft ${verb ? `${verb} ` : ''}--help\``;

/** Runs one CLI invocation and returns its exit code. */
export async function runCli(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name ? 0 : 2;
  }
  if (name === '--version') return versionVerb.run(rest, io);
  const entry = VERBS.find((v) => v.name === name);
  if (!entry) {
    const near = VERBS.filter((v) => v.name.startsWith(name.slice(0, 3))).map((v) => v.name);
    io.err(`error: unknown verb '${name}'${near.length ? ` (did you mean ${near.join(' or ')}?)` : ''}`);
    io.err(seeHelp());
    return 2;
  }
  const verb = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(verb.usage);
    return 0;
  }
  try {
    return await verb.run(rest, io);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS') || code === 'CLI_USAGE') {
      // One line naming the mistake, then where the full usage is: not all of it.
      io.err(`error: ${(e as Error).message}`);
      io.err(seeHelp(entry.name));
      return 2;
    }
    return reportError(io, e);
  }
}

export async function main(argv: string[]): Promise<void> {
  process.exitCode = await runCli(argv);
}
