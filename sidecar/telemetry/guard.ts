/**
 * The last line of defence against one bad connection taking the process down: an exception
 * or rejection that escaped every handler (an `'error'` event on a stream nobody listened to,
 * a throw in a timer) is logged with its stack and counted, and the sidecar keeps serving its
 * other connections. Every stream the request path creates has its own error handler and every
 * connection entry point its own try/catch (http/h1-server.ts, listeners/http-listener.ts);
 * this guard exists for the bug we have not found yet, so the counter
 * (`weft_sidecar_uncaught_errors_total`) should stay 0 and tests assert that it does.
 * Installed only once the sidecar is serving: a failure while starting still ends the process.
 */
import type { Logger } from 'pino';

let uncaught = 0;

/** Exceptions and rejections the guard caught since start. */
export function uncaughtErrors(): number {
  return uncaught;
}

export function installProcessGuard(log: Logger): void {
  const report = (kind: string) => (err: unknown) => {
    uncaught++;
    const e = err instanceof Error ? err : new Error(String(err));
    log.error({ kind, err: { message: e.message, code: (e as { code?: string }).code, stack: e.stack } }, `${kind}: kept serving (this is a bug in weft; please report it)`);
  };
  process.on('uncaughtException', report('uncaught exception'));
  process.on('unhandledRejection', report('unhandled rejection'));
}
