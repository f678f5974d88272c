// Every YAML example in the README and docs/ is configuration that `weft apply` accepts (house
// rule: a test applies every YAML example in the docs). Each document must validate on its own;
// examples that reference each other (a route and its service) are checked together in a second
// pass, over every example at once.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../../common/errors.js';
import { parseDocuments, validateApply } from '../../control-plane/config/index.js';
import { validateDocument } from '../../control-plane/config/validate.js';
import { buildModel, KINDS } from '../../control-plane/config/model.js';
import { selfSignedCert, tlsSecret } from '../harness/certs.js';

const CERT = selfSignedCert(['docs.example']);
const ROOT = join(import.meta.dirname, '..', '..');
const FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
/** Example files the docs and `weft apply --help` point at (deploy/examples/*.yaml), applied whole. */
const EXAMPLE_FILES = readdirSync(join(ROOT, 'deploy/examples')).filter((f) => /\.ya?ml$/.test(f)).map((f) => `deploy/examples/${f}`);

/** Every ```yaml block and every `<<'YAML'` heredoc of the docs, and every example file, with where it is. */
function examples(): Array<{ where: string; text: string }> {
  const out: Array<{ where: string; text: string }> = EXAMPLE_FILES.map((f) => ({ where: f, text: readFileSync(join(ROOT, f), 'utf8') }));
  for (const f of FILES) {
    const md = readFileSync(join(ROOT, f), 'utf8');
    for (const m of md.matchAll(/```ya?ml\n([\s\S]*?)```|<<'YAML'\n([\s\S]*?)\nYAML/g)) {
      out.push({ where: `${f}:${md.slice(0, m.index).split('\n').length}`, text: (m[1] ?? m[2])! });
    }
  }
  return out;
}

describe('YAML examples in the docs', () => {
  const all = examples();

  it('finds the examples (README and docs/), and the example files', () => {
    expect(all.length).toBeGreaterThan(10);
    expect(all.map((e) => e.where)).toContain('deploy/examples/canary.yaml');
  });

  it('every deploy/examples/ path that the docs or a CLI help text names exists', () => {
    const texts = [...FILES, ...readdirSync(join(ROOT, 'control-plane/cli/verbs')).map((f) => `control-plane/cli/verbs/${f}`)];
    const named = texts.flatMap((f) => [...readFileSync(join(ROOT, f), 'utf8').matchAll(/deploy\/examples\/[\w.-]+/g)].map((m) => `${f}: ${m[0]}`));
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((n) => !EXAMPLE_FILES.includes(n.split(': ')[1]!))).toEqual([]);
  });

  it('no example runs curl with an uppercase HTTP_PROXY (curl reads only lowercase http_proxy: the request would bypass the sidecar)', () => {
    const bad = FILES.flatMap((f) => readFileSync(join(ROOT, f), 'utf8').split('\n').map((l, i) => [`${f}:${i + 1}`, l] as const)).filter(([, l]) => /\bHTTP_PROXY=\S+\s+curl\b/.test(l));
    expect(bad.map(([where]) => where)).toEqual([]);
  });

  it('each example file applies on its own (what `weft apply -f deploy/examples/FILE` does on a fresh control plane)', () => {
    for (const f of EXAMPLE_FILES) {
      const { docs, errors } = parseDocuments(readFileSync(join(ROOT, f), 'utf8'), f);
      const v = validateApply(docs, buildModel(0, []));
      expect([...errors, ...v.errors].map(formatFieldError), f).toEqual([]);
    }
  });

  it.each(all.map((e) => [e.where, e.text] as const))('%s parses, and each Weft document in it validates on its own', (_where, text) => {
    const { docs, errors } = parseDocuments(text, 'example.yaml');
    expect(errors.map(formatFieldError)).toEqual([]);
    for (const d of docs) {
      const v = d.value as { kind?: unknown; apiVersion?: unknown };
      if (typeof v?.apiVersion !== 'string' || !/weft\.dev|gateway\.networking\.k8s\.io/.test(v.apiVersion)) continue; // not Weft config (e.g. a bootstrap file)
      expect(KINDS as readonly unknown[]).toContain(v.kind);
      const r = validateDocument(d.value, { file: 'example.yaml', document: d.index });
      // GRPCTranslation examples carry a placeholder descriptor set (a real one is `buf build` output).
      const errs = r.errors.filter((e) => !(v.kind === 'GRPCTranslation' && e.path === 'spec.descriptorSet'));
      expect(errs.map(formatFieldError)).toEqual([]);
    }
  });

  it('together, every example applies with its references resolved', () => {
    const byKey = new Map<string, ReturnType<typeof parseDocuments>['docs'][number]>();
    for (const e of all) {
      for (const d of parseDocuments(e.text, e.where).docs) {
        const v = d.value as { kind?: string; apiVersion?: string; metadata?: { name?: string; namespace?: string } };
        if (typeof v?.apiVersion !== 'string' || !/weft\.dev|gateway\.networking\.k8s\.io/.test(v.apiVersion) || v.kind === 'GRPCTranslation') continue;
        byKey.set(`${v.kind}/${v.metadata?.namespace ?? 'default'}/${v.metadata?.name}`, d); // a later example of the same resource replaces it
      }
    }
    // TLS Secrets are made with `weft create secret tls` from the reader's own files, so the docs
    // show no PEM: each Secret a Gateway example names stands in as a freshly made certificate.
    for (const d of [...byKey.values()]) {
      const v = d.value as { kind?: string; metadata?: { namespace?: string }; spec?: { listeners?: Array<{ tls?: { certificateRefs?: Array<{ name: string }> } }> } };
      if (v.kind !== 'Gateway') continue;
      const ns = v.metadata?.namespace ?? 'default';
      for (const l of v.spec?.listeners ?? []) {
        for (const c of l.tls?.certificateRefs ?? []) {
          const key = `Secret/${ns}/${c.name}`;
          if (!byKey.has(key)) byKey.set(key, parseDocuments(tlsSecret(c.name, CERT, ns), key).docs[0]!);
        }
      }
    }
    const { errors } = validateApply([...byKey.values()], buildModel(0, []));
    expect(errors.map(formatFieldError)).toEqual([]);
  });
});
