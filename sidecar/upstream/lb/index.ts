/**
 * Policy registry and the priority layer every policy sits behind. Hosts are grouped by EDS
 * priority (the control plane puts the caller's zone at priority 0 when a policy asks for zone
 * preference); each level gets traffic in proportion to its health with Envoy's 1.4
 * over-provisioning factor, so a zone spills over gradually as its hosts fail. Below the panic
 * threshold of total health, health is ignored and every host is used.
 */
import { Cluster_LbPolicy, type Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Host } from '../host.js';
import { leastRequest } from './least-request.js';
import { EMPTY_PICKER, type LbPolicy, type PickContext, type Picker } from './picker.js';
import { random } from './random.js';
import { ringHash } from './ring-hash.js';
import { roundRobin } from './round-robin.js';

export type { LbPolicy, PickContext, Picker } from './picker.js';

const OVERPROVISION = 1.4;

/** The cluster's policy, from its lb_policy and lb_config (validated by the xDS decoder). */
export function policyFor(c: Cluster): LbPolicy {
  switch (c.lbPolicy) {
    case Cluster_LbPolicy.LEAST_REQUEST:
      return leastRequest(c.lbConfig.case === 'leastRequestLbConfig' ? (c.lbConfig.value.choiceCount ?? 2) : 2);
    case Cluster_LbPolicy.RANDOM:
      return random;
    case Cluster_LbPolicy.RING_HASH: {
      const rh = c.lbConfig.case === 'ringHashLbConfig' ? c.lbConfig.value : undefined;
      return ringHash(Number(rh?.minimumRingSize ?? 1024n), Number(rh?.maximumRingSize ?? 8_388_608n));
    }
    default:
      return roundRobin;
  }
}

class PriorityPicker implements Picker {
  constructor(
    private readonly cumulative: Float64Array,
    private readonly pickers: readonly Picker[],
  ) {}
  pick(ctx: PickContext): Host | undefined {
    const r = Math.random() * this.cumulative[this.cumulative.length - 1]!;
    let i = 0;
    while (this.cumulative[i]! <= r) i++;
    return this.pickers[i]!.pick(ctx);
  }
}

/**
 * Builds the cluster's picker from its hosts and their current health.
 * @param panicThreshold percent of healthy hosts below which health is ignored (0 disables).
 */
export function buildPicker(hosts: readonly Host[], policy: LbPolicy, panicThreshold: number): Picker {
  if (hosts.length === 0) return EMPTY_PICKER;
  const levels = new Map<number, Host[]>();
  for (const h of hosts) {
    let l = levels.get(h.priority);
    if (!l) levels.set(h.priority, (l = []));
    l.push(h);
  }
  const ordered = [...levels.entries()].sort((a, b) => a[0] - b[0]).map(([, l]) => l);
  const healthy = ordered.map((l) => l.filter((h) => h.healthy));
  const health = ordered.map((l, i) => Math.min(100, (OVERPROVISION * 100 * healthy[i]!.length) / l.length));
  const total = Math.min(100, health.reduce((a, b) => a + b, 0));
  if (total === 0 || total < panicThreshold) return policy.build(hosts); // panic: every host
  // Each level takes what its health allows, in order; if the sum falls short, normalise.
  const loads: number[] = [];
  let left = 100;
  for (const h of health) {
    const l = total < 100 ? (h * 100) / health.reduce((a, b) => a + b, 0) : Math.min(left, h);
    loads.push(l);
    left -= l;
  }
  const pickers: Picker[] = [];
  const cum: number[] = [];
  let acc = 0;
  loads.forEach((l, i) => {
    if (l <= 0 || healthy[i]!.length === 0) return;
    pickers.push(policy.build(healthy[i]!));
    cum.push((acc += l));
  });
  return pickers.length === 1 ? pickers[0]! : new PriorityPicker(Float64Array.from(cum), pickers);
}
