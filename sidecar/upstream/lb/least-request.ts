/**
 * Least request, power of N choices (default two): sample N hosts at random and take the one with
 * the fewest requests in flight (for TCP clusters: open connections). With unequal weights a
 * host's load is scaled by its weight, as Envoy does, so a weight-2 host may carry twice the
 * requests. When N is at least the number of hosts, every host is looked at (what sampling N
 * times would almost always find, exactly and cheaper): true least-connections, ties broken at
 * random, which the control plane asks for TCP services, whose connections live long.
 */
import type { Host } from '../host.js';
import type { LbPolicy, Picker } from './picker.js';
import { WeightedRandom } from './random.js';

class LeastRequestPicker implements Picker {
  readonly #sampler: WeightedRandom;
  constructor(
    private readonly hosts: readonly Host[],
    private readonly choices: number,
  ) {
    this.#sampler = new WeightedRandom(hosts);
  }
  pick(): Host {
    const hs = this.hosts;
    if (hs.length === 1) return hs[0]!;
    if (this.choices >= hs.length) {
      const start = Math.floor(Math.random() * hs.length);
      let best = hs[start]!;
      for (let k = 1; k < hs.length; k++) {
        const c = hs[(start + k) % hs.length]!;
        if ((c.active + 1) / Math.max(1, c.weight) < (best.active + 1) / Math.max(1, best.weight)) best = c;
      }
      return best;
    }
    let best = this.#sampler.pick();
    for (let i = 1; i < this.choices; i++) {
      const c = this.#sampler.pick();
      if ((c.active + 1) / Math.max(1, c.weight) < (best.active + 1) / Math.max(1, best.weight)) best = c;
    }
    return best;
  }
}

export function leastRequest(choiceCount: number): LbPolicy {
  const n = Math.max(2, choiceCount || 2);
  return { name: 'LEAST_REQUEST', build: (hosts) => new LeastRequestPicker(hosts, n) };
}
