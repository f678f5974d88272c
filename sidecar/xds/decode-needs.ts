/**
 * Libraries a decoder needs synchronously but a sidecar loads only when its config uses them
 * (issue 24: a smaller idle sidecar). Compiling an extension's config happens while its resource
 * is decoded, so the library must be in before the response is decoded: the ADS client asks
 * `beforeDecode` with the response's resource bytes, and holds the response (and every later
 * one, in order) until the load settles; a failed load NACKs the response.
 *
 * An extension's `typed_config` is an Any, whose type URL is in the serialized resource verbatim,
 * so a byte search finds every resource that may carry it: a search can only say "load it" too
 * often (the URL appearing in some other string), never too rarely. Once a library is loaded,
 * nothing is searched for it any more.
 */
import type { FieldError } from '../../common/errors.js';
import { EXTENSIONS } from '../../common/extensions.js';
import { loadValidation, validationLoaded } from '../../common/validation/compile.js';

interface Need {
  /** The extension's type URL, as bytes. */
  readonly marker: Buffer;
  readonly loaded: () => boolean;
  readonly load: () => Promise<void>;
}

const NEEDS: readonly Need[] = [
  // ValidationPolicy: Ajv and ajv-formats compile its JSON Schemas (common/validation/compile.ts).
  { marker: Buffer.from(EXTENSIONS.validation.typeUrl, 'latin1'), loaded: validationLoaded, load: loadValidation },
];

/** What these resources need loaded before they are decoded, or undefined when it is all in. */
export function beforeDecode(resources: Iterable<Uint8Array>): Promise<void> | undefined {
  let wait: Promise<void>[] | undefined;
  for (const n of NEEDS) {
    if (n.loaded()) continue;
    for (const r of resources) {
      if (Buffer.from(r.buffer, r.byteOffset, r.byteLength).indexOf(n.marker) < 0) continue;
      (wait ??= []).push(n.load());
      break;
    }
  }
  return wait && Promise.all(wait).then(() => undefined);
}

/**
 * A `prepare` refusal that names its own field errors (a listener whose port is taken). `retry`:
 * what refused it can change without a new update (another process frees the port), so the ADS
 * client tries the NACKed update again, with back-off, until it is accepted or a newer one comes.
 */
export class PrepareRefusal extends Error {
  constructor(
    readonly errors: FieldError[],
    readonly retry = false,
  ) {
    super(errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  }
}

/** A response whose needed code did not load (here or in `prepare`): NACKed with the reason, nothing applied. */
export function loadFailure(e: unknown): { errors: FieldError[]; accepted: Map<string, unknown> } {
  if (e instanceof PrepareRefusal) return { errors: e.errors, accepted: new Map() };
  return { errors: [{ path: 'resources', message: `the sidecar could not load what this config needs: ${e instanceof Error ? e.message : String(e)}` }], accepted: new Map() };
}
