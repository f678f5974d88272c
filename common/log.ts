/**
 * Logging: pino lines to stderr (stdout is left to CLI output), ISO 8601 timestamps. Level from
 * --log-level or WEFT_LOG_LEVEL; format from --log-format or WEFT_LOG_FORMAT: `json` (the
 * default, for machines) or `pretty` (one readable line per event, for terminals). Components
 * take a child logger with `component` set, so lines can be filtered per module.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The --log-format value (else WEFT_LOG_FORMAT), checked; throws naming where it came from and the accepted values. */
export function parseLogFormat(v: string | undefined, flag = '--log-format'): LogFormat {
  const f = v ?? (process.env.WEFT_LOG_FORMAT || 'json');
  if (!(LOG_FORMATS as readonly string[]).includes(f)) throw new Error(`${v === undefined ? 'WEFT_LOG_FORMAT' : flag}: want json or pretty, got '${f}'`);
  return f as LogFormat;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/**
 * The --log-level value (else WEFT_LOG_LEVEL, else info), checked: pino throws on a level it does
 * not know, which would end a daemon with a stack trace instead of a usage error.
 */
export function parseLogLevel(v: string | undefined, flag = '--log-level'): string {
  const l = v ?? (process.env.WEFT_LOG_LEVEL || 'info');
  if (!(LOG_LEVELS as readonly string[]).includes(l)) throw new Error(`${v === undefined ? 'WEFT_LOG_LEVEL' : flag}: want one of ${LOG_LEVELS.join(', ')}, got '${l}'`);
  return l;
}

/** `format` unset: WEFT_LOG_FORMAT when it is `pretty`, else json (daemons check the value with parseLogFormat first). */
export function createLogger(name: string, level = process.env.WEFT_LOG_LEVEL || 'info', format: LogFormat = process.env.WEFT_LOG_FORMAT === 'pretty' ? 'pretty' : 'json'): Logger {
  const dest = pino.destination({ fd: 2, sync: false });
  const stream: DestinationStream = format === 'pretty' ? { write: (line: string) => void dest.write(prettyLine(line)) } : dest;
  return pino({ name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line has, shown in fixed places or not at all in the pretty format. */
const FIXED = new Set(['time', 'level', 'msg', 'pid', 'name', 'hostname']);

/** A value as it reads in key=value: bare when it has no space, quote or '=', else JSON. */
function show(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v);
}

/**
 * One pino JSON line as `TIME LEVEL msg key=value ...\n` (pid and name left out: one process
 * writes the stream). A line that is not JSON is passed through unchanged.
 */
export function prettyLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const level = LEVELS[o.level as number] ?? String(o.level);
  const fields = Object.entries(o)
    .filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${show(v)}`);
  // One event, one line: a message with line breaks or control characters is quoted (a log line cannot be forged).
  const msg = String(o.msg ?? '');
  const shown = /[\x00-\x1f\x7f]/.test(msg) ? JSON.stringify(msg) : msg;
  return `${String(o.time)} ${level.padEnd(5)} ${shown}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

/** A logger that drops everything; for unit tests and library use without output. */
export const silentLogger: Logger = pino({ level: 'silent' });
