// `--log-format pretty` (issue 23): one readable line per event, `TIME LEVEL msg key=value`, from
// the same pino records the JSON format writes (ISO 8601 time in both).
import { describe, expect, it } from 'vitest';
import { parseLogFormat, parseLogLevel, prettyLine } from '../../../common/log.js';

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

  it('--log-level and WEFT_LOG_LEVEL: pino\'s levels, a wrong one named with where it came from (the flag first, then the variable, empty is unset)', () => {
    const saved = { level: process.env.WEFT_LOG_LEVEL, format: process.env.WEFT_LOG_FORMAT };
    try {
      delete process.env.WEFT_LOG_LEVEL;
      delete process.env.WEFT_LOG_FORMAT;
      for (const l of ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']) expect(parseLogLevel(l)).toBe(l);
      expect(parseLogLevel(undefined)).toBe('info');
      expect(() => parseLogLevel('verbose')).toThrow("--log-level: want one of trace, debug, info, warn, error, fatal, silent, got 'verbose'");
      process.env.WEFT_LOG_LEVEL = 'INFO';
      expect(() => parseLogLevel(undefined)).toThrow("WEFT_LOG_LEVEL: want one of trace, debug, info, warn, error, fatal, silent, got 'INFO'");
      expect(parseLogLevel('warn')).toBe('warn');
      process.env.WEFT_LOG_LEVEL = '';
      expect(parseLogLevel(undefined)).toBe('info');
      process.env.WEFT_LOG_FORMAT = 'xml';
      expect(() => parseLogFormat(undefined)).toThrow("WEFT_LOG_FORMAT: want json or pretty, got 'xml'");
      process.env.WEFT_LOG_FORMAT = '';
      expect(parseLogFormat(undefined)).toBe('json');
    } finally {
      for (const [k, v] of [['WEFT_LOG_LEVEL', saved.level], ['WEFT_LOG_FORMAT', saved.format]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
