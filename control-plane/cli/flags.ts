/** Flag value parsing shared by verbs. */

/** '250ms', '10s', '1.5m', '1h' -> milliseconds. */
export function parseDurationFlag(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`'${s}' is not a duration (e.g. 500ms, 10s, 2m)`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * mult);
}
