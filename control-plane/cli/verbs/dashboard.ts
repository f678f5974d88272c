/** `weft dashboard`: where the control plane's web dashboard is; opens a browser only with --open. */
import { spawn } from 'node:child_process';
import { adminServerUrl } from '../server-url.js';
import { parseArgs } from 'node:util';
import { WeftError } from '../../../common/errors.js';
import { DEFAULT_SERVER, defaultDataDir, usageError, type Verb } from '../context.js';

const usage = `Usage: weft dashboard [--server URL] [--open]

Prints the URL of the web dashboard the control plane serves on its admin port: the service
graph with golden metrics, proxies and their sync state, traces, and the configuration. Log in
with the admin token (the file admin-token in the control plane's data directory). Nothing is
opened unless --open is given.

  --server ADDR  control plane admin API, HOST:PORT or URL (env WEFT_SERVER, default ${DEFAULT_SERVER})
  --open         also open the URL in the desktop's browser (xdg-open)

Examples:
  weft dashboard
  weft dashboard --server http://10.0.0.5:15014 --open`;

/** The dashboard's URL for an admin address (HOST:PORT or http(s) URL, as every verb's --server). */
export function dashboardUrl(server: string): string {
  return `${adminServerUrl(server)}/dashboard/`;
}

/** Opens `url` with xdg-open; resolves once it started, rejects with a clear error when it is not installed. */
export function openInBrowser(url: string, command = 'xdg-open'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        e.code === 'ENOENT'
          ? new WeftError('CLI_USAGE', `--open: ${command} is not installed, so no browser can be opened from here; open ${url} yourself (or install xdg-utils)`)
          : new WeftError('CLI_USAGE', `--open: ${command} failed to start: ${e.message}; open ${url} yourself`),
      );
    });
    child.once('spawn', () => {
      child.unref();
      resolve();
    });
  });
}

export const dashboard: Verb = {
  name: 'dashboard',
  summary: 'print the URL of the web dashboard (--open: open it in a browser)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({ args, options: { server: { type: 'string' }, open: { type: 'boolean', default: false } }, allowPositionals: true });
    if (positionals.length) throw usageError(`dashboard takes no arguments, got '${positionals[0]}'`);
    const url = dashboardUrl(values.server ?? process.env.WEFT_SERVER ?? DEFAULT_SERVER);
    io.out(url);
    io.err(`log in with the admin token: the file admin-token in the control plane's data directory (here: ${defaultDataDir()}/admin-token)`);
    if (values.open) await openInBrowser(url);
    return 0;
  },
};
