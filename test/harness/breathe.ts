/**
 * For long in-process property runs: the vitest worker answers its runner over an RPC with a fixed
 * 60 s timeout, and a worker that computes for a minute without turning its event loop reads the
 * answer too late (`Timeout calling "onTaskUpdate"`, the run fails with every test green). Under
 * the whole suite on two cores a 15 s fuzz test takes three to four times as long, so every long
 * property gives the loop a turn before each run.
 */
export function breathing<A extends unknown[]>(check: (...args: A) => void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    await new Promise<void>((resolve) => setImmediate(resolve));
    check(...args);
  };
}
