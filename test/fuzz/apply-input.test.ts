// In-process fuzz of the apply input path (parse, per-document validation, set checks) with
// generated and mutated YAML: thousands of inputs in seconds. test/fuzz/admin-apply.test.ts sends
// the same inputs to a real control plane.
import fc from 'fast-check';
import { breathing } from '../harness/breathe.js';
import { describe, expect, it } from 'vitest';
import { isWeftError } from '../../common/errors.js';
import { decodeApplyBody } from '../../control-plane/admin/apply-decode.js';
import { buildModel, checkApply, MAX_LISTED_ERRORS, PARSE_LIMITS, validateFiles, validateStoredResource } from '../../control-plane/config/index.js';
import { applyInputs } from './yaml-inputs.js';
import { parseDocuments, parseDocumentsCarefully, splitDocuments } from '../../control-plane/config/parse.js';

const empty = buildModel(0, []);
// Small inputs: thousands of runs in seconds; every limit is still crossed.
const { files: applyFiles } = applyInputs(0.05);
const RUNS = Number(process.env.WEFT_FUZZ_RUNS ?? 2000);

describe('apply input (in-process fuzz)', () => {
  it('every input is decoded into located errors or resources that survive the worker and the store, never an exception', async () => {
    await fc.assert(
      fc.asyncProperty(applyFiles, breathing((files) => {
        const names = new Set(files.map((f) => f.name));
        let v: ReturnType<typeof validateFiles>;
        try {
          v = validateFiles(files);
        } catch (e) {
          // The only refusal of the whole input: the document limit.
          expect(isWeftError(e) && e.code === 'REQUEST_TOO_LARGE', String(e)).toBe(true);
          return;
        }
        for (const e of v.errors) {
          expect(names.has(e.file!), `error without its file: ${JSON.stringify(e)}`).toBe(true);
          expect(Number.isInteger(e.document) && e.document! >= 0, `error without its document: ${JSON.stringify(e)}`).toBe(true);
          expect(typeof e.path).toBe('string');
          expect(e.message.length).toBeGreaterThan(0);
        }
        // What the worker sends must survive structured clone; what the store writes, JSON.
        expect(structuredClone(v.documents)).toEqual(v.documents);
        const set = checkApply(v.documents, empty);
        for (const e of set.errors) expect(e.resource ?? e.file, JSON.stringify(e)).toBeTruthy();
        if (v.errors.length || set.errors.length) return;
        for (const r of set.resources) {
          // The store keeps `source` as JSON and validates it again on load: same resource.
          const back = validateStoredResource(JSON.parse(JSON.stringify(r.source)));
          expect(back, `store round trip of ${r.kind}/${r.metadata.name}`).toEqual(r);
        }
      })),
      { numRuns: RUNS },
    );
  });

  it('the apply body decoder answers a located error or the documents, with at most MAX_LISTED_ERRORS listed', async () => {
    await fc.assert(
      fc.asyncProperty(applyFiles, breathing((files) => {
        try {
          const d = decodeApplyBody(Buffer.from(JSON.stringify({ files })));
          expect(d.errors.length).toBe(Math.min(d.errorCount, MAX_LISTED_ERRORS));
        } catch (e) {
          expect(isWeftError(e) && e.code === 'REQUEST_TOO_LARGE', String(e)).toBe(true);
        }
      })),
      { numRuns: RUNS / 4 },
    );
    const unknown = `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: s }\nspec:\n  ports: [{ port: 80 }]\n${Array.from({ length: 1500 }, (_, i) => `  f${i}: 1`).join('\n')}\n`;
    const d = decodeApplyBody(Buffer.from(JSON.stringify({ files: [{ name: 'wide.yaml', content: unknown }] })));
    expect([d.errors.length, d.errorCount]).toEqual([MAX_LISTED_ERRORS, 1500]);
  });

  it('the document limit covers all files of one apply', () => {
    const half = Math.ceil((PARSE_LIMITS.documents + 1) / 2);
    // Empty documents count too: the cost of parsing is per document, not per resource.
    const file = (name: string) => ({ name, content: '---\n'.repeat(half) });
    expect(() => validateFiles([file('a.yaml'), file('b.yaml')])).toThrow(/more than 25000 documents in one apply \(limit 25000\)/);
    expect(validateFiles([file('a.yaml')]).errors).toEqual([]);
  });

  it('the fast parser (js-yaml) and the careful one (yaml) give the same documents; errors only from the careful one', async () => {
    const { fileText } = applyInputs(0.05);
    let same = 0;
    await fc.assert(
      fc.asyncProperty(fileText, breathing((text) => {
        let fast: ReturnType<typeof parseDocuments>;
        try {
          fast = parseDocuments(text, 'f.yaml');
        } catch (e) {
          expect(isWeftError(e) && e.code === 'REQUEST_TOO_LARGE', String(e)).toBe(true);
          return;
        }
        const careful = parseDocumentsCarefully(text, 'f.yaml');
        // Refused alike (an input with any is refused whole, so
        // its documents do not matter). The fast path may list more: it reads each document on
        // its own, where the careful parser stops at the first one nested too deep.
        // (A syntax error may be located differently: the fast path reads each document alone, so
        // it names the document the error is in, where the careful parser sometimes names the one
        // before, and it lists one per bad document where the careful parser stops at the first
        // one nested too deep.)
        expect(fast.errors.length > 0, JSON.stringify({ fast: fast.errors, careful: careful.errors })).toBe(careful.errors.length > 0);
        if (careful.errors.length) return;
        // Without errors: identical documents, same index and line.
        // (Compared as JSON, which is what is stored: -0 and 0 are one number there.)
        const pick = (docs: typeof fast.docs) => JSON.parse(JSON.stringify(docs.map((d) => ({ index: d.index, line: d.line, value: d.value })))) as unknown;
        expect(pick(fast.docs)).toEqual(pick(careful.docs));
        same++;
      })),
      { numRuns: RUNS },
    );
    expect(same).toBeGreaterThan(0);
  });

  it('splits a stream where YAML puts document boundaries', () => {
    const split = (t: string) => [...splitDocuments(t)].map((c) => [c.index, c.line, c.text]);
    expect(split('a: 1\n---\nb: 2\n')).toEqual([[0, 1, 'a: 1\n'], [1, 2, '---\nb: 2\n']]);
    expect(split('---\na: 1\n---\n')).toEqual([[0, 1, '---\na: 1\n'], [1, 3, '---\n']]);
    expect(split('# c\n%YAML 1.2\n---\na: 1\n...\n---\nb: |\n  ---x\n  text\n')).toEqual([[0, 1, '# c\n%YAML 1.2\n---\na: 1\n...\n'], [1, 6, '---\nb: |\n  ---x\n  text\n']]);
    expect(split('\n# only a comment\n')).toEqual([]);
    expect(split('a: "x\n---\ny"')).toEqual([[0, 1, 'a: "x\n'], [1, 2, '---\ny"']]);
  });
});
