/**
 * Long work on the control plane's event loop in slices, so that xDS and the admin API are
 * served in between: a 20,000-resource apply is hundreds of milliseconds of validation, model
 * building and serialization, which in one piece would hold every proxy's responses.
 */

/** Resolves on the next turn of the event loop, after the I/O that is ready has been served. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Work slices on the event loop: longer ones delay xDS responses, shorter ones add overhead. */
const SLICE_MS = 10;

/** Runs a step generator to its end in slices of about SLICE_MS, yielding to the event loop between them. */
export async function sliced<T>(steps: Generator<void, T>): Promise<T> {
  let start = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - start >= SLICE_MS) {
      await nextTurn();
      start = performance.now();
    }
  }
}
