// Policy attachment to Services (readTargetRefs with `services`): a Service target is read with
// its field paths, refused where a kind only takes Gateways, checked to exist, and found by
// policyForService (policyForListener ignores it).
import { describe, expect, it } from 'vitest';
import { Reader } from '../../../control-plane/config/schema.js';
import { policyForListener, policyForService, readTargetRefs, type TargetingPolicy } from '../../../control-plane/config/kinds/policy-attachment.js';
import type { GatewayResource } from '../../../control-plane/config/types.js';

const read = (v: unknown, services: boolean) => {
  const r = new Reader({ file: 'p.yaml', document: 0 });
  const refs = readTargetRefs(r, v, 'spec.targetRefs', { required: false, services });
  return { refs, errors: r.errors.map((e) => [e.path, e.message]) };
};

describe('policy targetRefs to Services', () => {
  it('reads a Service target where the kind allows it', () => {
    expect(read([{ group: 'weft.dev', kind: 'Service', name: 'orders' }, { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge', sectionName: 'web' }], true)).toEqual({
      refs: [
        { group: 'weft.dev', kind: 'Service', name: 'orders' },
        { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge', sectionName: 'web' },
      ],
      errors: [],
    });
  });

  it.each([
    ['a Service where only Gateways are allowed', [{ group: 'weft.dev', kind: 'Service', name: 'orders' }], false, [['spec.targetRefs[0].group', "must be one of gateway.networking.k8s.io; got 'weft.dev'"], ['spec.targetRefs[0].kind', "must be one of Gateway; got 'Service'"]]],
    ['a Service in the Gateway API group', [{ group: 'gateway.networking.k8s.io', kind: 'Service', name: 'orders' }], true, [['spec.targetRefs[0].group', "must be one of weft.dev; got 'gateway.networking.k8s.io'"]]],
    ['a Service with a sectionName', [{ group: 'weft.dev', kind: 'Service', name: 'orders', sectionName: 'http' }], true, [['spec.targetRefs[0].sectionName', "a Service target names the whole service (its sidecars' inbound listener); sectionName is for Gateway listeners"]]],
    ['the same Service twice', [{ group: 'weft.dev', kind: 'Service', name: 'orders' }, { group: 'weft.dev', kind: 'Service', name: 'orders' }], true, [['spec.targetRefs[1]', 'names the same target as spec.targetRefs[0]']]],
  ])('refuses %s', (_what, v, services, errors) => {
    expect(read(v, services).errors).toEqual(errors);
  });

  it('finds the policy of a Service; a Gateway lookup ignores Service targets', () => {
    const pol = (name: string, ns: string, targetRefs: TargetingPolicy['spec']['targetRefs']): TargetingPolicy => ({ kind: 'X', metadata: { name, namespace: ns }, spec: { targetRefs } });
    const a = pol('a', 'shop', [{ group: 'weft.dev', kind: 'Service', name: 'edge' }]);
    const b = pol('b', 'other', [{ group: 'weft.dev', kind: 'Service', name: 'orders' }]);
    const c = pol('c', 'shop', [{ group: 'weft.dev', kind: 'Service', name: 'orders' }]);
    expect(policyForService([a, b, c], 'shop', 'orders')).toBe(c);
    expect(policyForService([a, b], 'shop', 'orders')).toBeUndefined();
    const gw = { metadata: { name: 'edge', namespace: 'shop' } } as GatewayResource;
    expect(policyForListener([a], gw, { name: 'web' } as GatewayResource['spec']['listeners'][number])).toBeUndefined();
  });
});
