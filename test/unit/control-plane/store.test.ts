import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { FileStore } from '../../../control-plane/store/file-store.js';
import type { MeshResource, ServiceResource } from '../../../control-plane/config/types.js';
import { tempDir } from '../../harness/processes.js';

const svc = (name: string, port = 8080): ServiceResource => ({
  apiVersion: 'weft.dev/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace: 'default', labels: {}, annotations: {} },
  spec: { ports: [{ name: 'http', port, protocol: 'http' }], endpoints: [] },
});
const identity = (v: unknown) => v as MeshResource;

describe('FileStore', () => {
  it('starts empty, commits upserts and deletes, and survives a reopen', async () => {
    const dir = tempDir();
    const s = new FileStore(dir, identity);
    expect(await s.load()).toEqual({ revision: 0, resources: [] });
    await s.commit({ upsert: [svc('b'), svc('a')], delete: [] });
    const st = await s.commit({ upsert: [svc('a', 9090)], delete: ['Service/default/b'] });
    expect(st.revision).toBe(2);
    const again = await new FileStore(dir, identity).load();
    expect(again.revision).toBe(2);
    expect(again.resources).toEqual([svc('a', 9090)]);
    expect(statSync(join(dir, 'config.json')).mode & 0o777).toBe(0o600);
  });

  it('serializes concurrent commits (no lost update)', async () => {
    const s = new FileStore(tempDir(), identity);
    await Promise.all(Array.from({ length: 20 }, (_, i) => s.commit({ upsert: [svc(`s${i}`)], delete: [] })));
    const st = await s.load();
    expect(st.revision).toBe(20);
    expect(st.resources).toHaveLength(20);
  });

  it('reports a corrupt file instead of serving it', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'config.json'), '{"format":1,"revision":3,"resources":[');
    await expect(new FileStore(dir, identity).load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });

  it('re-validates stored resources on load', async () => {
    const dir = tempDir();
    await new FileStore(dir, identity).commit({ upsert: [svc('a')], delete: [] });
    const strict = new FileStore(dir, () => {
      throw new Error('spec.ports[0].port: out of range');
    });
    await expect(strict.load()).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).revision).toBe(1);
  });

  it('writes one resource per line in chunks of at most 256 KiB (the event loop runs between them) and reads them back', async () => {
    const dir = tempDir();
    // The FileHandle class, to count the writes of a commit.
    const probe = await open(join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const many = Array.from({ length: 3_000 }, (_, i) => svc(`service-with-a-longish-name-${i}`, 1_000 + i));
    const write = vi.spyOn(proto, 'write');
    try {
      await new FileStore(dir, identity).commit({ upsert: many, delete: [] });
      const sizes = write.mock.calls.map(([data]) => (data as string).length);
      const line = JSON.stringify(many[0]).length;
      expect(sizes.reduce((a, b) => a + b, 0)).toBeGreaterThan(3_000 * line);
      expect(sizes.length).toBeGreaterThanOrEqual(3);
      for (const n of sizes) expect(n).toBeLessThanOrEqual(256 * 1024 + line + 8);
    } finally {
      write.mockRestore();
    }
    const lines = readFileSync(join(dir, 'config.json'), 'utf8').split('\n');
    expect(lines.slice(0, 4)).toEqual(['{', ' "format": 1,', ' "revision": 1,', ' "resources": [']);
    expect(lines.slice(-4)).toEqual([expect.stringMatching(/^  \{.*\}$/), ' ]', '}', '']);
    expect(lines).toHaveLength(4 + 3_000 + 3);
    const back = await new FileStore(dir, identity).load();
    expect(back.resources).toHaveLength(3_000);
    expect(back.resources).toContainEqual(many[1234]);
  });

  it('an empty store is written and read back too', async () => {
    const dir = tempDir();
    const s = new FileStore(dir, identity);
    await s.commit({ upsert: [svc('a')], delete: [] });
    await s.commit({ upsert: [], delete: ['Service/default/a'] });
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toEqual({ format: 1, revision: 2, resources: [] });
    expect(await new FileStore(dir, identity).load()).toEqual({ revision: 2, resources: [] });
  });
});
