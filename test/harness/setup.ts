// Runs before every test file (vitest.config.ts setupFiles): what the harness made for the file
// is removed after it, so a run leaves no directories behind in the temp dir.
import { afterAll } from 'vitest';
import { cleanupCerts } from './certs.js';
import { removeTempDirs } from './temp.js';

afterAll(() => {
  removeTempDirs();
  cleanupCerts();
});
