/**
 * What verbs share for -o and -n: one spelling of each flag, one message for a wrong value, and
 * YAML loaded only when -o yaml asks for it (the `yaml` package alone takes about 130 ms to load).
 */
import { usageError, type Io } from './context.js';

/** Every -o a verb may offer; each verb names the ones it has. */
export type OutputFormat = 'table' | 'wide' | 'yaml' | 'json' | 'text' | 'waterfall';

export const OUTPUT_OPTION = { output: { type: 'string', short: 'o' } } as const;

/** The -o value, checked against what the verb offers (the first one is its default). */
export function outputFormat<T extends OutputFormat>(value: string | undefined, allowed: readonly [T, ...T[]]): T {
  if (value === undefined) return allowed[0];
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw usageError(`-o ${value}: want ${allowed.slice(0, -1).join(', ')}${allowed.length > 1 ? ' or ' : ''}${allowed[allowed.length - 1]}`);
}

/** Prints data as JSON or YAML (documents separated by ---, when `docs` is a list of them). */
export async function printData(io: Io, format: 'yaml' | 'json', value: unknown, opts: { documents?: boolean } = {}): Promise<void> {
  if (format === 'json') {
    io.out(JSON.stringify(value, null, 2));
    return;
  }
  const { stringify } = await import('yaml');
  const docs = opts.documents && Array.isArray(value) ? value : [value];
  io.out(docs.map((d) => stringify(d).trimEnd()).join('\n---\n'));
}

/** The namespace every namespaced verb defaults to (as kubectl's). */
export const DEFAULT_NAMESPACE = 'default';

export const NAMESPACE_OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
} as const;

export const NAMESPACE_USAGE = `  -n, --namespace NS     namespace (default: ${DEFAULT_NAMESPACE})
  -A, --all-namespaces   every namespace (listings only)`;

/** The namespace asked for: -n NS, `default` without one, undefined for -A (every namespace). */
export function namespaceOf(values: { namespace?: string; 'all-namespaces'?: boolean }, opts: { all?: boolean } = { all: true }): string | undefined {
  if (values['all-namespaces']) {
    if (!opts.all) throw usageError('-A/--all-namespaces lists; this command works on one namespace (-n NS)');
    if (values.namespace !== undefined) throw usageError('give -n NS or -A, not both');
    return undefined;
  }
  if (values.namespace === '') throw usageError('-n: want a namespace name');
  return values.namespace ?? DEFAULT_NAMESPACE;
}
