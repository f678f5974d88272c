/**
 * Logging: pino JSON lines to stderr (stdout is left to CLI output). Level from WEFT_LOG_LEVEL.
 * Components take a child logger with `component` set, so lines can be filtered per module.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name: string, level = process.env.WEFT_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything; for unit tests and library use without output. */
export const silentLogger: Logger = pino({ level: 'silent' });
