/**
 * Round robin. Equal weights: a rotating index. Unequal weights: a precomputed smooth weighted
 * round-robin schedule (nginx's algorithm), so a weight-3 host is interleaved, not bursted.
 * Each picker starts at a random offset so sidecars do not move in lockstep.
 */
import type { Host } from '../host.js';
import { sameWeights, type LbPolicy, type Picker } from './picker.js';

const MAX_SCHEDULE = 4096;

class RoundRobinPicker implements Picker {
  #next: number;
  constructor(private readonly schedule: readonly Host[]) {
    this.#next = Math.floor(Math.random() * schedule.length);
  }
  pick(): Host {
    const h = this.schedule[this.#next]!;
    this.#next = this.#next + 1 === this.schedule.length ? 0 : this.#next + 1;
    return h;
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export function weightedSchedule(hosts: readonly Host[]): Host[] {
  if (sameWeights(hosts)) return [...hosts];
  const g = hosts.reduce((acc, h) => gcd(acc, Math.max(1, h.weight)), 0);
  let weights = hosts.map((h) => Math.max(1, h.weight) / g);
  let total = weights.reduce((a, b) => a + b, 0);
  if (total > MAX_SCHEDULE) {
    const scale = MAX_SCHEDULE / total;
    weights = weights.map((w) => Math.max(1, Math.round(w * scale)));
    total = weights.reduce((a, b) => a + b, 0);
  }
  const current = new Array<number>(hosts.length).fill(0);
  const out: Host[] = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < hosts.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    out.push(hosts[best]!);
  }
  return out;
}

export const roundRobin: LbPolicy = {
  name: 'ROUND_ROBIN',
  build: (hosts) => new RoundRobinPicker(weightedSchedule(hosts)),
};
