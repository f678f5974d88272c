// The error catalogue and its documentation stay in step (fastify's errors test, same idea).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, WeftError, formatFieldError } from '../../../common/errors.js';

describe('error catalogue', () => {
  it('documents every code with its meaning in docs/errors.md, and nothing else', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../../docs/errors.md'), 'utf8');
    const rows = new Map([...doc.matchAll(/^\| `([A-Z_0-9]+)` \| (.+) \|$/gm)].map((m) => [m[1], m[2]]));
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, meaning] of Object.entries(ERROR_CODES)) expect(rows.get(code), code).toBe(meaning);
  });

  it('serializes code, message and details', () => {
    const e = new WeftError('CONFIG_INVALID', 'bad', { details: [{ path: 'spec.x', message: 'no' }] });
    expect(JSON.parse(JSON.stringify(e))).toEqual({ code: 'CONFIG_INVALID', message: 'bad', details: [{ path: 'spec.x', message: 'no' }] });
  });

  it('formats a field error with file, document and resource', () => {
    expect(formatFieldError({ file: 'a.yaml', document: 2, resource: 'Service/default/x', path: 'spec.ports[0].port', message: 'too big' }))
      .toBe('a.yaml#2 Service/default/x spec.ports[0].port: too big');
  });
});
