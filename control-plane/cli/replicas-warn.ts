/** With several control-plane replicas, a fan-out answer names replicas that did not answer. */
import type { Io } from './context.js';

export function warnUnreachable(unreachable: Record<string, string> | undefined, io: Io): void {
  for (const [replica, why] of Object.entries(unreachable ?? {})) io.err(`weft: replica ${replica} did not answer (${why}): what it holds is missing from this answer`);
}
