/** CLI spellings of resource kinds (`weft get svc`, `weft get httproutes`, ...), from the kind registry. */
import { KIND_DEFINITIONS } from '../config/kinds/index.js';
import { type Kind } from '../config/types.js';
import { KINDS } from '../config/model.js';

const ALIASES: Readonly<Record<string, Kind>> = Object.fromEntries(
  KIND_DEFINITIONS.flatMap((d) => [d.kind.toLowerCase(), d.plural, ...d.shortNames].map((s) => [s, d.kind] as const)),
);

export function parseKind(s: string): Kind | undefined {
  return ALIASES[s.toLowerCase()] ?? KINDS.find((k) => k === s);
}

export const KIND_HELP = KIND_DEFINITIONS.map((d) => `${d.kind.toLowerCase()}${d.shortNames.length ? ` (${d.shortNames.join(', ')})` : ''}`).join(', ');
