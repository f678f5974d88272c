// Fuzz of `weft apply`'s endpoint on a real control-plane process: generated and mutated YAML
// (every kind, hostile structures, garbage) and malformed request bodies. Every answer is 2xx or a
// 4xx that names what was wrong; a refused apply leaves the stored configuration exactly as it was;
// the connection is never dropped and the process never dies.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlaneProc } from '../harness/processes.js';
import { stringify } from 'yaml';
import { applyInputs, SEEDS } from './yaml-inputs.js';

let cp: ControlPlaneProc;
let auth: Record<string, string>;

/** What the other seeds refer to, stored first so that valid documents can be accepted. */
const BASE = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }, { name: grpc, port: 9090, protocol: grpc }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
`;

beforeAll(async () => {
  cp = await startControlPlane();
  auth = { authorization: `Bearer ${readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' };
  const r = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', headers: auth, body: JSON.stringify({ files: [{ name: 'base.yaml', content: BASE }] }) });
  expect(r.status).toBe(200);
});
afterAll(async () => {
  await cp?.kill();
});

const stored = async () => (await (await fetch(`${cp.adminUrl}/v1/resources`, { headers: auth })).text());

const { files } = applyInputs(1);

/** Valid documents only (the seeds that refer to what BASE stores), so that applies are accepted too. */
const valid = fc.subarray(SEEDS.filter((d) => d.kind !== 'GRPCTranslation'), { minLength: 1 }).map((docs) => [{ name: 'valid.yaml', content: docs.map((d) => stringify(d)).join('---\n') }]);

const asBody = (f: Array<{ name: string; content: string }>) => ({ text: JSON.stringify({ files: f }), names: f.map((x) => x.name) });

/** A request body: mostly `{files}` with generated YAML, sometimes a malformed body or one over a limit. */
const body: fc.Arbitrary<{ text: string; names: string[] }> = fc.oneof(
  { weight: 16, arbitrary: files.map(asBody) },
  { weight: 3, arbitrary: valid.map(asBody) },
  { weight: 1, arbitrary: fc.integer({ min: 25_001, max: 30_000 }).map((n) => asBody([{ name: 'many.yaml', content: '---\n'.repeat(n) }])) },
  { weight: 2, arbitrary: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({ files: [] }), fc.constant({ files: [{ name: 1, content: 'a: 1' }] }), fc.constant({ files: [null] })).map((v) => ({ text: JSON.stringify(v), names: [] })) },
  { weight: 2, arbitrary: fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.constantFrom('', '{', '{"files": [', 'null', '\u0000')).map((text) => ({ text, names: [] })) },
);

describe('admin apply (process fuzz)', () => {
  it('answers 2xx or a located 4xx, never 5xx; a refused apply changes nothing; the process lives', { timeout: 120_000 }, async () => {
    let accepted = 0;
    const statuses: Record<number, number> = {};
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async ({ text, names }, dryRun) => {
        const before = await stored();
        // fetch rejects on a dropped connection: that fails the property too.
        const r = await fetch(`${cp.adminUrl}/v1/apply${dryRun ? '?dryRun=1' : ''}`, { method: 'POST', headers: auth, body: text });
        const answer = (await r.json()) as { code?: string; message?: string; details?: Array<{ file?: string; document?: number; resource?: string; path: string; message: string }> };
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        expect(r.status, JSON.stringify(answer).slice(0, 500)).toBeLessThan(500);
        if (r.status < 300) {
          if (!dryRun) accepted++;
          if (dryRun) expect(await stored()).toBe(before);
          return;
        }
        expect([400, 413, 422]).toContain(r.status);
        expect(await stored(), 'a refused apply changed the stored configuration').toBe(before);
        if (r.status === 400) expect(answer.message).toMatch(/body|files/);
        if (r.status === 413) expect(answer.message).toMatch(/\(limit [^)]+\)/);
        if (r.status === 422) {
          // Every problem names its file and document, or the stored resource it breaks, or the files.
          if (!answer.details?.length) expect(answer.message).toMatch(/no resources found in the input: every document of .* is empty/);
          for (const d of answer.details ?? []) {
            const located = (d.file !== undefined && names.includes(d.file) && Number.isInteger(d.document)) || (d.file === 'stored' && d.resource !== undefined);
            expect(located, JSON.stringify(d)).toBe(true);
          }
        }
      }),
      { numRuns: Number(process.env.WEFT_FUZZ_RUNS ?? 400) },
    );
    expect(cp.proc.exitCode).toBe(null);
    expect((await fetch(`${cp.adminUrl}/healthz`)).status).toBe(200);
    process.stdout.write(`fuzz statuses ${JSON.stringify(statuses)}, applied ${accepted}\n`);
  });
});
