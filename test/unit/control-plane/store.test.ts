import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
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
});
