// `weft dashboard` (the verb's own run, in-process): prints the URL from --server, WEFT_SERVER or
// the default; a --server HOST:PORT is taken as http (as every verb), another scheme is a usage error naming the fix; --open runs xdg-open
// with the URL, and says plainly when xdg-open is not installed.
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { dashboard } from '../../../control-plane/cli/verbs/dashboard.js';
import { eventually, tempDir } from '../../harness/processes.js';

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s), stdin: async () => '' } };
}

describe('weft dashboard', () => {
  const saved = { PATH: process.env.PATH, WEFT_SERVER: process.env.WEFT_SERVER };
  afterEach(() => {
    process.env.PATH = saved.PATH;
    if (saved.WEFT_SERVER === undefined) delete process.env.WEFT_SERVER;
    else process.env.WEFT_SERVER = saved.WEFT_SERVER;
  });

  it('prints the URL from --server, WEFT_SERVER or the default, and opens nothing', async () => {
    delete process.env.WEFT_SERVER;
    const a = io();
    expect(await dashboard.run([], a.io)).toBe(0);
    expect(a.out).toEqual(['http://127.0.0.1:15014/dashboard/']);
    expect(a.err.join('\n')).toContain('admin-token');
    process.env.WEFT_SERVER = 'http://10.0.0.5:15014/';
    const b = io();
    await dashboard.run([], b.io);
    expect(b.out).toEqual(['http://10.0.0.5:15014/dashboard/']);
    const c = io();
    await dashboard.run(['--server', 'https://cp.example:8443'], c.io);
    expect(c.out).toEqual(['https://cp.example:8443/dashboard/']);
  });

  it('takes --server as HOST:PORT (http:// assumed, as every verb) and refuses another scheme, naming the fix', async () => {
    const o = io();
    expect(await dashboard.run(['--server', '127.0.0.1:15014'], o.io)).toBe(0);
    expect(o.out.join('\n')).toContain('http://127.0.0.1:15014/dashboard/');
    await expect(dashboard.run(['--server', 'ftp://cp:15014'], io().io)).rejects.toThrow(/--server "ftp:\/\/cp:15014" has scheme ftp; the admin API is http:\/\/HOST:PORT/);
  });

  it('--open runs xdg-open with the URL; without xdg-open it says so', async () => {
    delete process.env.WEFT_SERVER;
    const bin = tempDir('weft-bin-');
    const seen = join(bin, 'seen');
    writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" > ${seen}\n`);
    chmodSync(join(bin, 'xdg-open'), 0o755);
    process.env.PATH = bin;
    const a = io();
    expect(await dashboard.run(['--server', 'http://127.0.0.1:9', '--open'], a.io)).toBe(0);
    expect(await eventually(() => existsSync(seen) && readFileSync(seen, 'utf8').trim())).toBe('http://127.0.0.1:9/dashboard/');
    process.env.PATH = tempDir('weft-empty-');
    const b = io();
    await expect(dashboard.run(['--open'], b.io)).rejects.toThrow(/--open: xdg-open is not installed, so no browser can be opened from here; open http:\/\/127\.0\.0\.1:15014\/dashboard\/ yourself/);
    expect(b.out).toEqual(['http://127.0.0.1:15014/dashboard/']);
  });
});
