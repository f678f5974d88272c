// Regression: an admin token that began with '-' (1 in 64 of base64url) could not be passed as
// `--token TOKEN` (parseArgs reads it as an option): seen as a CLI test failing with exit code 2.
import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { newAdminToken } from '../../../control-plane/admin/token.js';
import { CLIENT_OPTIONS } from '../../../control-plane/cli/context.js';

describe('admin token', () => {
  it('never starts with a dash, so `--token TOKEN` always parses (2,000 tokens)', () => {
    for (let i = 0; i < 2000; i++) {
      const t = newAdminToken();
      expect(t).toMatch(/^wa_[A-Za-z0-9_-]{43}$/);
      expect(parseArgs({ args: ['--token', t], options: CLIENT_OPTIONS }).values.token).toBe(t);
    }
  });
});
