/** YAML/JSON text -> raw documents (multi-document, Kubernetes style). Pure: no file access. */
import { parseAllDocuments } from 'yaml';
import type { FieldError } from '../../common/errors.js';

export interface RawDocument {
  file: string;
  /** Zero-based document index in the file. */
  index: number;
  value: unknown;
  /** 1-based line where the document starts. */
  line?: number;
}

export function parseDocuments(text: string, file: string): { docs: RawDocument[]; errors: FieldError[] } {
  const docs: RawDocument[] = [];
  const errors: FieldError[] = [];
  const lineOf = (offset: number) => text.slice(0, offset).split('\n').length;
  parseAllDocuments(text, { prettyErrors: false, uniqueKeys: true }).forEach((d, index) => {
    if (d.errors.length) {
      for (const e of d.errors) errors.push({ file, document: index, path: '', message: `YAML syntax error at line ${lineOf(e.pos[0])}: ${e.message.split('\n')[0]}` });
      return;
    }
    const value: unknown = d.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // empty document (e.g. a trailing ---)
    docs.push({ file, index, value, line: d.range ? lineOf(d.range[0]) : undefined });
  });
  return { docs, errors };
}
