// A proxy NACKs what the control plane sent: `weft proxy-status` shows NACKED with the message and
// the last good version; `weft proxy-config` shows what it is being served; EDS is pushed only to
// streams subscribed to the assignment that changed.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBinary } from '@bufbuild/protobuf';
import { TYPE_URL } from '../../../common/xds-types.js';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { SotwClient } from '../../harness/ads-client.js';
import { eventually, startControlPlane, tempDir, weft, type ControlPlaneProc } from '../../harness/processes.js';

const svc = (name: string, port: number, epPort: number) =>
  `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: ${port}, protocol: http }]\n  endpoints: [{ address: 127.0.0.1, port: ${epPort} }]\n`;

describe('proxy-status and proxy-config through the CLI', () => {
  let cp: ControlPlaneProc;
  let dir: string;
  const clients: SotwClient[] = [];
  beforeAll(async () => {
    // The last test registers a beta instance over plaintext xDS, allowed only when told to.
    cp = await startControlPlane({ extraArgs: ['--xds-plaintext-register'] });
    dir = tempDir('weft-files-');
    writeFileSync(join(dir, 'a.yaml'), `${svc('alpha', 8080, 9001)}---\n${svc('beta', 8080, 9002)}`);
    expect((await weft(['apply', '-f', join(dir, 'a.yaml')], { cp })).code).toBe(0);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await cp?.kill();
  });

  it('shows NACKED with the message, then SYNCED after a good update', async () => {
    const c = new SotwClient(`127.0.0.1:${cp.xdsPort}`, { id: 'sidecar-nack', cluster: 'alpha', metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: 'alpha', WEFT_INSTANCE_IP: '127.0.0.1', WEFT_INSTANCE_PORT: '15006', WEFT_APP_PORT: '9001' } });
    clients.push(c);
    c.subscribe(TYPE_URL.cluster);
    const first = await c.next(TYPE_URL.cluster);
    c.ack(first);
    await eventually(async () => /sidecar-nack.*SYNCED/.test((await weft(['proxy-status'], { cp })).stdout));

    writeFileSync(join(dir, 'b.yaml'), svc('gamma', 8080, 9003));
    expect((await weft(['apply', '-f', join(dir, 'b.yaml')], { cp })).code).toBe(0);
    const bad = await c.next(TYPE_URL.cluster);
    c.nack(bad, "clusters[outbound|8080||gamma.default].lb_policy: unsupported value 'MAGLEV'", first.versionInfo);
    const out = await eventually(async () => {
      const r = await weft(['proxy-status'], { cp });
      return /NACKED/.test(r.stdout) ? r.stdout : undefined;
    });
    expect(out).toMatch(/sidecar-nack\s+alpha\.default\s+sidecar\/sotw\s+NACKED/);
    expect(out).toContain("lb_policy: unsupported value 'MAGLEV'");
    expect(out).toContain(`last good ${first.versionInfo}`);
    const json = JSON.parse((await weft(['proxy-status', '-o', 'json'], { cp })).stdout) as Array<{ nodeId: string; types: { cluster: { state: string; ackedVersion: string } } }>;
    expect(json.find((p) => p.nodeId === 'sidecar-nack')!.types.cluster).toMatchObject({ state: 'NACKED', ackedVersion: first.versionInfo });

    writeFileSync(join(dir, 'c.yaml'), svc('gamma', 8081, 9004)); // a cluster change (endpoints alone are EDS)
    expect((await weft(['apply', '-f', join(dir, 'c.yaml')], { cp })).code).toBe(0);
    // Make-before-break sends old+new first, then the final set; ACK both.
    c.ack(await c.next(TYPE_URL.cluster));
    c.ack(await c.next(TYPE_URL.cluster));
    await eventually(async () => /sidecar-nack.*SYNCED/.test((await weft(['proxy-status'], { cp })).stdout));
  });

  it('proxy-config lists and dumps the resources served to a proxy', async () => {
    const list = await weft(['proxy-config', 'sidecar-nack'], { cp });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/CLUSTER\s+outbound\|8080\|\|alpha\.default/);
    expect(list.stdout).toMatch(/LISTENER\s+inbound/);
    const y = await weft(['proxy-config', 'sidecar-nack', '--type', 'cluster', '-o', 'json'], { cp });
    const dump = JSON.parse(y.stdout) as { resources: { cluster: Array<{ name: string; resource: { type?: string; edsClusterConfig?: unknown } }> } };
    expect(dump.resources.cluster.find((c) => c.name === 'outbound|8080||beta.default')!.resource).toMatchObject({ type: 'EDS' });
    const none = await weft(['proxy-config', 'nobody'], { cp });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('weft proxy-status');
  });

  it('pushes EDS only to streams subscribed to the assignment that changed', async () => {
    const mk = (id: string, cla: string) => {
      const c = new SotwClient(`127.0.0.1:${cp.xdsPort}`, { id, cluster: 'x', metadata: {} });
      clients.push(c);
      c.autoAck = true;
      c.subscribe(TYPE_URL.endpoint, [cla]);
      return c;
    };
    const a = mk('watch-alpha', 'outbound|8080||alpha.default');
    const b = mk('watch-beta', 'outbound|8080||beta.default');
    await a.next(TYPE_URL.endpoint);
    await b.next(TYPE_URL.endpoint);
    // A sidecar of beta registers: beta's endpoints change, alpha's do not.
    const reg = new SotwClient(`127.0.0.1:${cp.xdsPort}`, { id: 'beta-1', cluster: 'beta', metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: 'beta', WEFT_INSTANCE_IP: '127.0.0.7', WEFT_INSTANCE_PORT: '15006', WEFT_APP_PORT: '9002' } });
    clients.push(reg);
    reg.subscribe(TYPE_URL.cluster);
    const upd = await b.next(TYPE_URL.endpoint, 5000);
    expect(upd.resources).toHaveLength(1);
    expect(a.responses.all).toHaveLength(1);
    // Then alpha's endpoints change. Pushes go out in order, so alpha's next EDS response is this
    // change only if beta's change sent it nothing (decided by an event, not a quiet period).
    writeFileSync(join(dir, 'alpha.yaml'), svc('alpha', 8080, 9005));
    expect((await weft(['apply', '-f', join(dir, 'alpha.yaml')], { cp })).code).toBe(0);
    const alpha = await a.next(TYPE_URL.endpoint, 5000);
    const ports = alpha.resources.map((r) => fromBinary(ClusterLoadAssignmentSchema, r.value).endpoints.flatMap((l) => l.lbEndpoints.map((e) => (e.hostIdentifier.case === 'endpoint' ? e.hostIdentifier.value.address?.address.case === 'socketAddress' && e.hostIdentifier.value.address.address.value.portSpecifier.value : undefined))));
    expect(ports).toHaveLength(1);
    expect(ports[0]).toContain(9005); // (next to the instance the first test registered)
    expect(a.responses.all).toHaveLength(2);
  });
});
