/** Number formats and the health colours every view shares. */

/** Green at >= 99 % success, amber at >= 95 %, red below; grey when nothing finished. */
export function health(successRate: number | null | undefined): 'good' | 'warn' | 'bad' | 'idle' {
  if (successRate === null || successRate === undefined) return 'idle';
  return successRate >= 0.99 ? 'good' : successRate >= 0.95 ? 'warn' : 'bad';
}

export const HEALTH_COLOUR = { good: '#2e9e5b', warn: '#e0a100', bad: '#d64545', idle: '#9aa3ad' } as const;

export function pct(rate: number | null | undefined): string {
  if (rate === null || rate === undefined) return '–';
  const p = rate * 100;
  return `${p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : v >= 10 ? `${Math.round(v)}ms` : `${v.toFixed(1)}ms`;
}

export function rps(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return `${v >= 100 ? Math.round(v) : v.toFixed(1)} req/s`;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** Time until `iso`, e.g. "in 23h"; "expired" when past. */
export function until(iso: string, now = Date.now()): string {
  const s = Math.round((Date.parse(iso) - now) / 1000);
  if (s <= 0) return 'expired';
  if (s < 3600) return `in ${Math.round(s / 60)}m`;
  if (s < 86400 * 2) return `in ${Math.round(s / 3600)}h`;
  return `in ${Math.round(s / 86400)}d`;
}

/** The short service name of `name.namespace`. */
export const shortName = (id: string): string => (id.includes('.') ? id.slice(0, id.lastIndexOf('.')) : id);
