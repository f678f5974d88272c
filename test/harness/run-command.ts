// One command run to its end from a test, without blocking the vitest worker (the bench tests run
// bench scripts and report.mjs this way).
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

export interface CommandRun { code: number; stdout: string; stderr: string }

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Runs CMD ARGS in the checkout's root (or `cwd`) with the test's environment plus `env`, killed
 * after `timeoutMs`. Never rejects: `code` is the exit code, -1 when the command did not start or
 * was killed.
 */
export function runCommand(cmd: string, args: string[], o: { env?: Record<string, string>; timeoutMs?: number; cwd?: string } = {}): Promise<CommandRun> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd: o.cwd ?? ROOT, env: { ...process.env, ...o.env }, timeout: o.timeoutMs ?? 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      done({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}
