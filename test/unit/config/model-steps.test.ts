// buildModelSteps: the model of a large configuration built in slices (the control plane runs
// them between other event-loop tasks) is the model buildModel builds in one go.
import { describe, expect, it } from 'vitest';
import { buildModel, buildModelSteps } from '../../../control-plane/config/model.js';
import type { MeshResource, ServiceResource } from '../../../control-plane/config/types.js';

const svc = (name: string): ServiceResource => ({
  apiVersion: 'weft.dev/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace: 'default', labels: {}, annotations: {} },
  spec: { ports: [{ name: 'http', port: 8080, protocol: 'http' }], endpoints: [] },
});

describe('buildModelSteps', () => {
  it('yields every 512 resources and ends with the model buildModel builds', () => {
    const resources: MeshResource[] = Array.from({ length: 2_000 }, (_, i) => svc(`s-${i}`));
    const steps = buildModelSteps(7, resources);
    let yields = 0;
    let r = steps.next();
    for (; !r.done; r = steps.next()) yields++;
    expect(yields).toBe(Math.floor(2_000 / 512));
    expect(r.value).toEqual(buildModel(7, resources));
    expect(r.value.services.size).toBe(2_000);
  });
});
