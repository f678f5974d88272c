// `weft consumer` and `weft key` against a running control plane: the key is printed once and
// only its SHA-256 reaches the admin API and the store file; concurrent issues both land (the
// read-modify-write is guarded by ifRevision, and a stale revision is refused 409); revoke and
// delete. Real processes, loopback only.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, storedConfig, weft, type ControlPlaneProc } from '../../harness/processes.js';
import { runCli } from '../../../control-plane/cli/main.js';

const KEY = /^wk_([0-9a-f]{8})_[A-Za-z0-9_-]{43}$/;
const sha = (k: string) => `sha256:${createHash('sha256').update(k).digest('hex')}`;

describe('weft consumer and weft key', () => {
  let cp: ControlPlaneProc;
  let token: string;
  const api = async (path: string, init: RequestInit = {}) => {
    const r = await fetch(`${cp.adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    return { status: r.status, text: await r.text() };
  };
  const stored = async () => (await storedConfig(cp.dataDir)).text;
  const consumerOf = async (name: string) => {
    const r = await api(`/v1/resources?kind=Consumer&name=${name}`);
    return JSON.parse(r.text) as { revision: number; items: Array<{ metadata: { labels: Record<string, string> }; spec: { plan: string; keys: Array<{ id: string; hash: string; created?: string; expires?: string }> } }> };
  };

  beforeAll(async () => {
    cp = await startControlPlane();
    token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
  }, 30_000);
  afterAll(async () => {
    await cp?.kill();
  });

  it('creates a consumer with a plan and labels, and refuses to create it twice', async () => {
    const r = await weft(['consumer', 'create', 'acme', '--plan', 'gold', '--label', 'tier=paid', '--label', 'region=eu'], { cp });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^Consumer\/default\/acme created \(revision \d+\)\n$/);
    const c = (await consumerOf('acme')).items[0]!;
    expect([c.spec.plan, c.metadata.labels, c.spec.keys]).toEqual(['gold', { tier: 'paid', region: 'eu' }, []]);
    const again = await weft(['consumer', 'create', 'acme'], { cp });
    expect([again.code, again.stderr]).toEqual([1, 'error: Consumer default/acme already exists (see `weft consumer list`; keys: `weft key issue`)\n']);
  }, 30_000);

  it('issues a key: printed once on stdout, only its hash in the admin API and the store file', async () => {
    const r = await weft(['key', 'issue', 'acme', '--expires', '30d'], { cp });
    expect(r.code).toBe(0);
    const key = r.stdout.trim();
    expect(r.stdout).toBe(`${key}\n`);
    const id = KEY.exec(key)![1]!;
    expect(r.stderr).toContain(`key ${id} issued to Consumer default/acme, expires `);
    expect(r.stderr).toContain(`stored: ${sha(key)}`);
    expect(r.stderr).not.toContain(key);
    const c = (await consumerOf('acme')).items[0]!;
    expect(c.spec.keys).toEqual([{ id, hash: sha(key), created: expect.any(String), expires: expect.any(String) }]);
    const days = (Date.parse(c.spec.keys[0]!.expires!) - Date.parse(c.spec.keys[0]!.created!)) / 86_400_000;
    expect(days).toBe(30);
    const secret = key.slice(`wk_${id}_`.length);
    expect(await stored()).toContain(sha(key));
    expect(await stored()).not.toContain(secret);
    expect((await api('/v1/resources')).text).not.toContain(secret);
    const list = await weft(['consumer', 'list'], { cp });
    expect(list.stdout).toContain(`${id} (${sha(key).slice(0, 19)}…, expires `);
    expect(list.stdout).not.toContain(secret);
  }, 30_000);

  it('loses no key when four issues run at once (ifRevision), and refuses a stale revision 409', async () => {
    const before = (await consumerOf('acme')).items[0]!.spec.keys.length;
    // In one process, so that every issue reads the Consumer before any writes it back.
    const issue = async () => {
      let stdout = '';
      const code = await runCli(['key', 'issue', 'acme', '--server', cp.adminUrl, '--token', token], { out: (s) => (stdout += `${s}\n`), err: () => undefined, stdin: async () => '' });
      return { code, stdout };
    };
    const runs = await Promise.all([issue(), issue(), issue(), issue()]);
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    const hashes = (await consumerOf('acme')).items[0]!.spec.keys.map((k) => k.hash);
    expect(hashes).toHaveLength(before + 4);
    for (const r of runs) expect(hashes).toContain(sha(r.stdout.trim()));

    const { revision } = await consumerOf('acme');
    const doc = JSON.stringify({ apiVersion: 'weft.dev/v1alpha1', kind: 'Consumer', metadata: { name: 'stale' }, spec: {} });
    const stale = await api(`/v1/apply?ifRevision=${revision - 1}`, { method: 'POST', body: JSON.stringify({ files: [{ name: 'x', content: doc }] }) });
    expect(stale.status).toBe(409);
    expect(JSON.parse(stale.text)).toMatchObject({ code: 'CONFIG_CONFLICT' });
    expect((await consumerOf('stale')).items).toEqual([]);
    const fresh = await api(`/v1/apply?ifRevision=${revision}`, { method: 'POST', body: JSON.stringify({ files: [{ name: 'x', content: doc }] }) });
    expect(fresh.status).toBe(200);
    expect((await api('/v1/apply?ifRevision=abc', { method: 'POST', body: '{}' })).status).toBe(400);
  }, 60_000);

  it('revokes a key by id, and says so when the id is not there', async () => {
    const keys = (await consumerOf('acme')).items[0]!.spec.keys;
    const r = await weft(['key', 'revoke', 'acme', keys[0]!.id], { cp });
    expect([r.code, r.stdout]).toEqual([0, `key ${keys[0]!.id} of Consumer default/acme revoked\n`]);
    expect((await consumerOf('acme')).items[0]!.spec.keys.map((k) => k.id)).toEqual(keys.slice(1).map((k) => k.id));
    const again = await weft(['key', 'revoke', 'acme', keys[0]!.id], { cp });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`Consumer default/acme has no key ${keys[0]!.id}`);
    const nobody = await weft(['key', 'issue', 'nobody'], { cp });
    expect([nobody.code, nobody.stdout, nobody.stderr]).toEqual([1, '', 'error: Consumer default/nobody does not exist (create it with `weft consumer create nobody`)\n']);
  }, 30_000);

  it('deletes a consumer', async () => {
    const r = await weft(['consumer', 'delete', 'acme'], { cp });
    expect(r.code).toBe(0);
    expect((await consumerOf('acme')).items).toEqual([]);
    expect((await weft(['consumer', 'list'], { cp })).stdout).toContain('stale');
  }, 30_000);
});
