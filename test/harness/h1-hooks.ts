/**
 * H1Connection hooks for tests that only answer requests: every request goes to `request`, the
 * rest records nothing, and an internal error is thrown (a test never expects one).
 */
import type { H1Downstream } from '../../sidecar/http/h1-downstream.js';
import type { H1Hooks } from '../../sidecar/http/h1-server.js';

export function answeringHooks(request: (d: H1Downstream) => void): H1Hooks {
  return {
    request,
    end: () => undefined,
    rejected: () => undefined,
    limit: () => undefined,
    internalError: (e) => {
      throw e;
    },
    draining: () => false,
  };
}
