/** Flag value parsing shared by verbs. */
import { parseDuration } from '../config/schema.js';

/** '250ms', '10s', '1.5m', '1h' -> milliseconds, with the same grammar as config durations. */
export function parseDurationFlag(s: string): number {
  const ms = parseDuration(s);
  if (ms === undefined) throw new Error(`'${s}' is not a duration (e.g. 500ms, 10s, 2m)`);
  return ms;
}
