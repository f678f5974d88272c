// settleStreamErrorPath (sidecar/http/stream-state.ts): after it, V8 no longer treats an Error's
// stack field as constant, so the first real stream error cannot deoptimize code that relied on
// it. Read off V8's own description of an Error (%DebugPrint) in a child node process, with a
// control run without the call (the field is still constant there, so the check can fail).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

function stackField(settle: boolean): string {
  const script = `
    import { settleStreamErrorPath } from ${JSON.stringify(join(ROOT, 'dist/sidecar/http/stream-state.js'))};
    if (${settle}) settleStreamErrorPath();
    %DebugPrint(new Error('probe'));
  `;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  const line = r.stdout.split('\n').find((l) => l.includes('error_stack_symbol'));
  expect(line, r.stdout).toBeDefined();
  return line!;
}

describe('settleStreamErrorPath', () => {
  it('leaves an Error\'s stack field mutable (a constant field before it)', () => {
    expect(stackField(false)).toMatch(/\(const data field \d+\)/);
    const after = stackField(true);
    expect(after).toMatch(/\(data field \d+\)/);
    expect(after).not.toMatch(/const data field/);
  });
});
