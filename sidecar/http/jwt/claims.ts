/** A claim of a verified JWT by its dotted path (`realm.roles`): undefined when a step is not an object. */
export function claimAt(payload: Readonly<Record<string, unknown>>, path: readonly string[]): unknown {
  let v: unknown = payload;
  for (const k of path) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}
