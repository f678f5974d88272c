/**
 * JSON pointers (RFC 6901) parsed once into segments, and the edits body transformations make
 * with them. A pointer naming `__proto__`, `constructor` or `prototype` is refused when parsed:
 * edits never reach an object's prototype.
 */
const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** Segments of `p` ('' is the whole document), or an error message. */
export function parsePointer(p: string): string[] | string {
  if (p === '') return [];
  if (!p.startsWith('/')) return `'${p}' is not a JSON pointer (it starts with '/', e.g. /user/name)`;
  const segs = p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (/~[^01]|~$/.test(p)) return `'${p}' has '~' not followed by 0 or 1 (write ~0 for '~', ~1 for '/')`;
  const bad = segs.find((s) => FORBIDDEN.has(s));
  if (bad !== undefined) return `'${p}' names '${bad}', which is refused (prototype pollution)`;
  return segs;
}

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null;
}

/** The value at `segs`, or undefined. */
export function getAt(doc: unknown, segs: readonly string[]): unknown {
  let cur = doc;
  for (const s of segs) {
    if (Array.isArray(cur)) cur = /^(0|[1-9]\d*)$/.test(s) ? cur[Number(s)] : undefined;
    else if (isContainer(cur)) cur = Object.hasOwn(cur, s) ? (cur as Record<string, unknown>)[s] : undefined;
    else return undefined;
  }
  return cur;
}

/**
 * Sets the value at `segs` (creating missing objects on the way; `-` appends to an array).
 * Returns the document (a new one when `segs` is empty); false when the path crosses a scalar.
 */
export function setAt(doc: unknown, segs: readonly string[], value: unknown): { doc: unknown } | false {
  if (segs.length === 0) return { doc: value };
  if (!isContainer(doc)) return false;
  let cur: Record<string, unknown> | unknown[] = doc;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (Array.isArray(cur)) {
      const idx = s === '-' ? cur.length : /^(0|[1-9]\d*)$/.test(s) ? Number(s) : -1;
      if (idx < 0 || idx > cur.length) return false;
      if (last) {
        cur[idx] = value;
        return { doc };
      }
      if (!isContainer(cur[idx])) cur[idx] = {};
      cur = cur[idx] as Record<string, unknown> | unknown[];
    } else {
      if (last) {
        cur[s] = value;
        return { doc };
      }
      if (!isContainer(cur[s])) cur[s] = {};
      cur = cur[s] as Record<string, unknown> | unknown[];
    }
  }
  return { doc };
}

/** Removes the value at `segs`; returns whether something was removed. */
export function removeAt(doc: unknown, segs: readonly string[]): boolean {
  if (segs.length === 0) return false;
  const parent = getAt(doc, segs.slice(0, -1));
  const s = segs[segs.length - 1]!;
  if (Array.isArray(parent)) {
    if (!/^(0|[1-9]\d*)$/.test(s) || Number(s) >= parent.length) return false;
    parent.splice(Number(s), 1);
    return true;
  }
  if (isContainer(parent) && Object.hasOwn(parent, s)) {
    delete (parent as Record<string, unknown>)[s];
    return true;
  }
  return false;
}
