// `--log-format pretty` (issue 23): one readable line per event, `TIME LEVEL msg key=value`, from
// the same pino records the JSON format writes (ISO 8601 time in both).
import { describe, expect, it } from 'vitest';
import { parseLogFormat, prettyLine } from '../../../common/log.js';

describe('log formats', () => {
  it('pretty: time, level, message, then the fields as key=value (strings with spaces quoted, objects as JSON)', () => {
    const line = JSON.stringify({ level: 40, time: '2026-12-03T13:00:00.000Z', pid: 7, name: 'weft-sidecar', node: 'web-1.default', component: 'app', reason: 'connection refused', n: 3, ok: false, err: { message: 'x' }, msg: 'nothing is listening' });
    expect(prettyLine(line)).toBe('2026-12-03T13:00:00.000Z WARN  nothing is listening node=web-1.default component=app reason="connection refused" n=3 ok=false err={"message":"x"}\n');
  });

  it('pretty: one event is one line: a message with a line break is quoted (no forged second line)', () => {
    const line = JSON.stringify({ level: 30, time: '2026-12-03T13:00:00.000Z', msg: 'ok\n2026-12-03T13:00:01.000Z ERROR forged' });
    const out = prettyLine(line);
    expect(out.split('\n')).toHaveLength(2); // the line and the final newline
    expect(out).toContain('"ok\\n2026');
  });

  it('pretty: a line that is not JSON passes through', () => {
    expect(prettyLine('plain text\n')).toBe('plain text\n');
  });

  it('--log-format accepts json and pretty and names them otherwise', () => {
    expect(parseLogFormat('pretty')).toBe('pretty');
    expect(parseLogFormat('json')).toBe('json');
    expect(() => parseLogFormat('xml')).toThrow("--log-format: want json or pretty, got 'xml'");
  });
});
