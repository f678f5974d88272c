/** Random: uniform, or weighted by a cumulative-weight binary search. */
import type { Host } from '../host.js';
import { sameWeights, type LbPolicy, type Picker } from './picker.js';

class UniformPicker implements Picker {
  constructor(private readonly hosts: readonly Host[]) {}
  pick(): Host {
    return this.hosts[Math.floor(Math.random() * this.hosts.length)]!;
  }
}

/** Weighted random choice; shared with least request for its candidates. */
export class WeightedRandom {
  readonly #cum: Float64Array;
  readonly #total: number;
  constructor(readonly hosts: readonly Host[]) {
    this.#cum = new Float64Array(hosts.length);
    let t = 0;
    hosts.forEach((h, i) => (this.#cum[i] = t += Math.max(1, h.weight)));
    this.#total = t;
  }
  pick(): Host {
    const r = Math.random() * this.#total;
    let lo = 0;
    let hi = this.#cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#cum[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return this.hosts[lo]!;
  }
}

export const random: LbPolicy = {
  name: 'RANDOM',
  build: (hosts) => (sameWeights(hosts) ? new UniformPicker(hosts) : new WeightedRandom(hosts)),
};
