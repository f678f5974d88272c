/**
 * Calls to the admin API from the page: same origin, the session cookie (HttpOnly: the page never
 * sees it) and the session's secret in the x-weft-csrf header on every call. A 401 from any call means "log in again": the
 * listeners registered with onUnauthorized are told, and the app shows the login form.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const listeners = new Set<() => void>();

/**
 * The session's secret, answered by the login and sent as x-weft-csrf with every call: the
 * HttpOnly cookie alone authenticates nothing (the browser sends it to every port of the host).
 * sessionStorage is per origin (port included) and per tab.
 */
const SECRET = 'weft-session-secret';

/** Called whenever a call comes back 401. */
export function onUnauthorized(fn: () => void): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export async function api<T>(path: string, o: { method?: string; body?: unknown } = {}): Promise<T> {
  const r = await fetch(path, {
    method: o.method ?? 'GET',
    credentials: 'same-origin',
    headers: { 'x-weft-csrf': sessionStorage.getItem(SECRET) ?? '', ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
  });
  const text = await r.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (path === '/v1/login' && r.ok) sessionStorage.setItem(SECRET, (body as { csrf?: string } | undefined)?.csrf ?? '');
  if (r.status === 401 && path !== '/v1/login') listeners.forEach((fn) => fn());
  if (!r.ok) throw new ApiError(r.status, (body as { message?: string } | undefined)?.message ?? `${r.status} ${r.statusText}`);
  return body as T;
}

/** Query string from the defined values. */
export function qs(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
