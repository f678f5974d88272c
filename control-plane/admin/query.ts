/** Query-string values of the admin API, checked. */
import { WeftError } from '../../common/errors.js';

/**
 * A yes/no parameter: `1` or `true` is yes; `0`, `false` or no parameter is no. Anything else is
 * refused (400), so a `?dryRun=yes` is never read as "no" and applied for real.
 */
export function booleanParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  if (v === null || v === '0' || v === 'false') return false;
  if (v === '1' || v === 'true') return true;
  throw new WeftError('ADMIN_BAD_REQUEST', `${name}: want 1, true, 0 or false, got ${JSON.stringify(v.slice(0, 40))}`);
}
