/**
 * Runs an xDS stream's responses in arrival order, letting one of them hold the line until a
 * promise settles (the ADS client's `prepare` hook: code an update needs is loaded before the
 * update is applied and ACKed). Responses that arrive meanwhile wait and then run in order; one of
 * them may hold the line again.
 */
export class InOrder {
  #waiting: Array<() => void> | undefined;

  #held(): Array<() => void> | undefined {
    return this.#waiting;
  }

  /** Runs `fn` now, or after whatever holds the line. */
  run(fn: () => void): void {
    if (this.#waiting) this.#waiting.push(fn);
    else fn();
  }

  /**
   * Holds the line until `p` settles, then runs `settled` (with the error, if any) and what waited.
   * `settled` may hold the line again (a response held for a library to load, then for `prepare`):
   * what waited then waits behind that.
   */
  hold(p: Promise<void>, settled: (err: unknown) => void): void {
    const q: Array<() => void> = [];
    this.#waiting = q;
    const done = (e: unknown): void => {
      this.#waiting = undefined;
      settled(e);
      for (let i = 0; i < q.length; i++) {
        const again = this.#held(); // (a method: TypeScript would keep the narrowing to undefined)
        if (again) {
          again.push(...q.slice(i));
          return;
        }
        q[i]!();
      }
    };
    p.then(
      () => done(undefined),
      (e: unknown) => done(e ?? new Error('prepare failed')),
    );
  }
}
