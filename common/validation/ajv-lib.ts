/**
 * Ajv and ajv-formats for compile.ts, once loaded. They are loaded on demand (about 1.5 MB of heap
 * that a sidecar without a ValidationPolicy never needs): the control plane loads them at
 * start-up, a sidecar before it decodes the first xDS response that carries a Validation config
 * (sidecar/xds/decode-needs.ts), since compiling happens while decoding and is synchronous.
 */
import type { Ajv2020 } from 'ajv/dist/2020.js';

export interface AjvLib {
  readonly Ajv2020: typeof Ajv2020;
  readonly addFormats: (ajv: Ajv2020) => Ajv2020;
}
let ajvLib: AjvLib | undefined;
let ajvLoading: Promise<void> | undefined;

/** Loads Ajv and ajv-formats (once; a failed load is tried again on the next call). */
export function loadValidation(): Promise<void> {
  ajvLoading ??= Promise.all([import('ajv/dist/2020.js'), import('ajv-formats')]).then(
    ([a, f]) => {
      // ajv-formats is CommonJS: its default export is the function, under `default` in ESM interop.
      const addFormats = ((f.default as unknown as { default?: unknown }).default ?? f.default) as AjvLib['addFormats'];
      ajvLib = { Ajv2020: a.Ajv2020, addFormats };
    },
    (e: unknown) => {
      ajvLoading = undefined;
      throw e;
    },
  );
  return ajvLoading;
}

/** Whether `compileValidation` can run now (loadValidation() has finished). */
export function validationLoaded(): boolean {
  return ajvLib !== undefined;
}

/** The loaded library, or undefined before loadValidation() has finished. */
export function loadedAjv(): AjvLib | undefined {
  return ajvLib;
}
