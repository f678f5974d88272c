// The systemd units under deploy/systemd (docs/deploy.md): systemd itself accepts each of them
// (`systemd-analyze verify`, which works offline, without systemd as PID 1), every `--flag` their
// ExecStart lines pass is one the real CLI documents in its --help text, and the settings the
// units promise (drain time before SIGKILL, hardening without MemoryDenyWriteExecute) are there.
//
// What `systemd-analyze verify` does (systemd 252, checked by the negative cases below): an unknown
// directive such as `Restat=` is only a warning ("Unknown key 'Restat' in section [Service],
// ignoring.") and the exit code stays 0, so a unit counts as accepted only when verify exits 0 AND
// says nothing about it; a missing ExecStart= or a command that is not executable fail with exit 1.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { controlPlane } from '../../../control-plane/cli/verbs/control-plane.js';
import { tempDir } from '../../harness/processes.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const UNIT_DIR = join(ROOT, 'deploy', 'systemd');

/** Each unit file, and the instance name verify loads it as (templates need an instance). */
const UNITS = [
  { file: 'weft-control-plane.service', as: 'weft-control-plane.service', verb: 'control-plane' },
  { file: 'weft-sidecar@.service', as: 'weft-sidecar@web.service', verb: 'sidecar' },
  { file: 'weft-gateway@.service', as: 'weft-gateway@edge-public.service', verb: 'gateway' },
] as const;

/**
 * What `weft VERB --help` prints, read from the TypeScript source so no build (dist/) is needed.
 * control-plane: the verb's exported `usage` (control-plane/cli/main.ts prints it for --help).
 * sidecar, gateway: USAGE / GATEWAY_USAGE in sidecar/main.ts, which prints them for --help; they
 * are not exported, so the template literals are read from the file.
 */
function usageText(verb: string): string {
  if (verb === 'control-plane') return controlPlane.usage;
  const src = readFileSync(join(ROOT, 'sidecar', 'main.ts'), 'utf8');
  const name = verb === 'gateway' ? 'GATEWAY_USAGE' : 'USAGE';
  const m = new RegExp(`const ${name} = \`((?:\\\\[\\s\\S]|[^\`\\\\])*)\``).exec(src);
  if (!m) throw new Error(`${name} not found in sidecar/main.ts`);
  return m[1]!;
}

/** Logical lines of a unit file: backslash-newline continuations joined, comments dropped. */
function logicalLines(text: string): string[] {
  return text
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l && !l.startsWith('#') && !l.startsWith(';'));
}

/** Every value of KEY= in the unit, in order. */
function values(text: string, key: string): string[] {
  return logicalLines(text)
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1).trim());
}

/** Seconds from a systemd time span such as 40s, 1min 30s, 500ms, 2. */
function seconds(span: string): number {
  let total = 0;
  for (const m of span.matchAll(/(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?/g)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 'min' || m[2] === 'm' ? n * 60 : m[2] === 'h' ? n * 3600 : n;
  }
  return total;
}

const work = tempDir('weft-systemd-');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * Runs `systemd-analyze verify` on TEXT saved as NAME in a fresh directory. verify checks that
 * every Exec command exists and is executable, and /usr/bin/weft (the installed CLI the units
 * run) is not installed on a test machine: the copy runs process.execPath (node) instead. Only
 * the path changes; every other byte of the unit is verified as written.
 * `findings` are the lines of verify's output about this unit (it may also warn about unrelated
 * units of the host that it loads as dependencies, which say nothing about ours).
 */
function verify(name: string, text: string): { status: number | null; output: string; findings: string[] } {
  const dir = mkdtempSync(join(work, 'v-'));
  const path = join(dir, name);
  writeFileSync(path, text.replaceAll('/usr/bin/weft', process.execPath));
  const r = spawnSync('systemd-analyze', ['verify', '--man=no', path], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`systemd-analyze could not run (${r.error.message}); it comes with the systemd package`);
  const output = `${r.stdout}${r.stderr}`;
  const base = name.replace(/@.*\.service$/, '@');
  const findings = output.split('\n').filter((l) => l.trim() && (l.includes(dir) || l.includes(name) || l.includes(base)));
  return { status: r.status, output, findings };
}

describe('deploy/systemd units', () => {
  describe.each(UNITS)('$file', (u) => {
    const text = readFileSync(join(UNIT_DIR, u.file), 'utf8');

    it(`systemd-analyze verify accepts it (as ${u.as}), with no warning about it`, () => {
      expect(text).toContain('ExecStart=/usr/bin/weft ');
      const r = verify(u.as, text);
      expect(r.findings, r.output).toEqual([]);
      expect(r.status, r.output).toBe(0);
    });

    it(`every --flag of its ExecStart is one \`weft ${u.verb} --help\` lists`, () => {
      const exec = values(text, 'ExecStart');
      expect(exec).toHaveLength(1);
      const words = exec[0]!.split(' ');
      expect(words.slice(0, 2)).toEqual(['/usr/bin/weft', u.verb]);
      const flags = words.filter((w) => w.startsWith('--')).map((w) => w.replace(/=.*$/, ''));
      expect(flags.length).toBeGreaterThan(3);
      const usage = usageText(u.verb);
      expect(usage).toMatch(/usage/i);
      const unknown = flags.filter((f) => !new RegExp(`${f}(?![a-z0-9-])`).test(usage));
      expect(unknown, `flags not in \`weft ${u.verb} --help\``).toEqual([]);
    });

    it('runs as user weft, restarts on failure, after the network is up, hardened (without MemoryDenyWriteExecute)', () => {
      expect(values(text, 'User')).toEqual(['weft']);
      expect(values(text, 'Restart')).toEqual(['on-failure']);
      expect(values(text, 'RestartSec')).toHaveLength(1);
      expect(values(text, 'After').join(' ')).toContain('network-online.target');
      expect(values(text, 'Wants').join(' ')).toContain('network-online.target');
      expect(values(text, 'DynamicUser')).toEqual([]);
      for (const [k, v] of [
        ['NoNewPrivileges', 'yes'],
        ['ProtectSystem', 'strict'],
        ['ProtectHome', 'yes'],
        ['PrivateTmp', 'yes'],
        ['PrivateDevices', 'yes'],
        ['ProtectKernelTunables', 'yes'],
        ['ProtectKernelModules', 'yes'],
        ['ProtectControlGroups', 'yes'],
        ['LockPersonality', 'yes'],
        ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
      ]) expect(values(text, k!), k).toEqual([v]);
      // V8's JIT needs writable and executable pages: node cannot run under it.
      expect(values(text, 'MemoryDenyWriteExecute')).toEqual([]);
      expect(Number(values(text, 'LimitNOFILE')[0])).toBeGreaterThanOrEqual(65536);
      expect(values(text, 'LoadCredential')).toHaveLength(1);
    });
  });

  it('the control plane keeps its data dir in StateDirectory and reads its KEK as a credential', () => {
    const text = readFileSync(join(UNIT_DIR, 'weft-control-plane.service'), 'utf8');
    expect(values(text, 'StateDirectory')).toEqual(['weft']);
    expect(values(text, 'ConfigurationDirectory')).toEqual(['weft']);
    expect(values(text, 'EnvironmentFile')).toEqual(['/etc/weft/control-plane.env']);
    expect(values(text, 'LoadCredential')).toEqual(['kek:/etc/weft/ca-kek']);
    const exec = values(text, 'ExecStart')[0]!;
    expect(exec).toContain('--data-dir %S/weft');
    expect(exec).toContain('--ca-kek-file %d/kek');
    expect(exec).toContain('--store ${WEFT_STORE}');
    expect(values(text, 'After').join(' ')).toContain('etcd.service');
  });

  it.each(['weft-sidecar@.service', 'weft-gateway@.service'])('%s: TimeoutStopSec exceeds drain delay + drain timeout (+ 5 s for --workers)', (file) => {
    const text = readFileSync(join(UNIT_DIR, file), 'utf8');
    const env = new Map(values(text, 'Environment').map((e) => e.split('=', 2) as [string, string]));
    const drain = seconds(env.get('WEFT_DRAIN_DELAY')!) + seconds(env.get('WEFT_DRAIN_TIMEOUT')!);
    expect(drain).toBe(21); // the CLI defaults, docs/sidecar.md
    expect(seconds(values(text, 'TimeoutStopSec')[0]!)).toBeGreaterThan(drain + 5);
    expect(values(text, 'KillMode')).toEqual(['mixed']);
    expect(values(text, 'ExecStart')[0]).toContain('--drain-delay ${WEFT_DRAIN_DELAY} --drain-timeout ${WEFT_DRAIN_TIMEOUT}');
  });

  // Negative cases, on copies of the real control-plane unit: the checks above must catch a broken unit.
  describe('a broken unit is reported', () => {
    const good = readFileSync(join(UNIT_DIR, 'weft-control-plane.service'), 'utf8');

    it('a misspelt directive (Restat=): verify only warns (exit 0), so the warning is what fails the test', () => {
      const broken = good.replace(/^Restart=on-failure$/m, 'Restat=on-failure');
      expect(broken).not.toBe(good);
      const r = verify('weft-control-plane.service', broken);
      expect(r.status).toBe(0); // systemd 252: unknown keys are ignored with a warning
      expect(r.findings.join('\n')).toMatch(/Unknown key 'Restat' in section \[Service\]/);
    });

    it('no ExecStart=: verify fails', () => {
      const broken = logicalLines(good).filter((l) => !l.startsWith('ExecStart=')).join('\n');
      const r = verify('weft-control-plane.service', `${broken}\n`);
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/no ExecStart=/);
    });

    it('a command that is not executable: verify fails (why the test runs node in place of /usr/bin/weft)', () => {
      const dir = mkdtempSync(join(work, 'x-'));
      writeFileSync(join(dir, 'weft'), '#!/bin/sh\n', { mode: 0o644 });
      const r = verify('weft-control-plane.service', good.replace('ExecStart=/usr/bin/weft', `ExecStart=${join(dir, 'weft')}`));
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/is not executable/);
    });
  });
});
