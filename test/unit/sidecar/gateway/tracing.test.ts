// A gateway's listeners trace: the HCM tracing the control plane gives gateway listeners turns on
// the gateway tracer (SERVER span per request, CLIENT span per upstream attempt); without it, off.
// Regression: gateways used to receive tracing settings and ignore them (no spans at the edge).
import { expect, it } from 'vitest';
import { Runtime } from '../../../../sidecar/runtime.js';
import { loadTracingSdk, Tracing } from '../../../../sidecar/telemetry/tracing.js';
import { PLAINTEXT_MESH, service, translateFor } from '../../../harness/sidecar.js';
import { createLogger } from '../../../../common/log.js';

const TRACED_MESH = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: DISABLE }
  tracing: { endpoint: "http://127.0.0.1:9/v1/traces", samplingPercent: 100 }
`;
const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
const node = { role: 'gateway', gateway: 'default/edge', service: 'edge', namespace: 'default', appPort: 1 } as const;

it('turns the gateway tracer on from the gateway listeners\' tracing, and off when it goes', async () => {
  await loadTracingSdk(); // as the sidecar's xDS client does before applying a Listener that exports spans
  const t = new Tracing({ namespace: 'default', nodeId: 'gw-1', logger: createLogger('test', 'warn') });
  const r = new Runtime('http', undefined, t, undefined, undefined);
  r.apply(translateFor([TRACED_MESH, GATEWAY, service('api', [1])], node));
  expect(t.active('gateway')).toBe(true);
  expect(r.contextFor('gateway.web').tracing?.listener).toBe('gateway');
  r.apply(translateFor([PLAINTEXT_MESH, GATEWAY, service('api', [1])], node));
  expect(t.active('gateway')).toBe(false);
  r.close();
  await t.close();
});
