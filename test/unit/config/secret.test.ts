// Secret (issue 19 item 2): TLS certificates as Kubernetes users write them (type
// kubernetes.io/tls, data base64 or stringData PEM). Every mistake is refused with its field path
// and never echoes the key; what the admin API hands out has the key replaced; a Gateway's status
// shows each listener's certificate names and expiry; a Secret a Gateway uses cannot be deleted.
import { describe, expect, it } from 'vitest';
import { checkDelete } from '../../../control-plane/config/index.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { kindDefinition, presentResource } from '../../../control-plane/config/kinds/index.js';
import type { GatewayResource, SecretResource } from '../../../control-plane/config/types.js';
import { selfSignedCert, tlsSecret } from '../../harness/certs.js';
import { applyYaml } from '../../harness/mesh.js';

const A = selfSignedCert(['shop.example', 'www.shop.example'], { days: 90 });
const B = selfSignedCert(['api.example'], { rsa: true });
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (body: string, name = 'c') => `apiVersion: v1\nkind: Secret\nmetadata: { name: ${name} }\n${body}`;
const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 80, protocol: HTTP }
    - { name: shop, port: 443, protocol: HTTPS, hostname: shop.example, tls: { certificateRefs: [{ name: shop }] } }
`;

describe('Secret', () => {
  it('accepts PEM in stringData and base64 in data, ECDSA and RSA', () => {
    for (const yaml of [tlsSecret('c', A), secret(`type: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(B.certPem)}\n  tls.key: ${b64(B.keyPem)}\n`)]) {
      const { resources, errors } = applyYaml(yaml);
      expect(errors).toEqual([]);
      const s = resources[0] as SecretResource;
      expect(s.kind).toBe('Secret');
      expect(s.spec.certificatePem).toContain('BEGIN CERTIFICATE');
      expect(s.spec.privateKeyPem).toContain('PRIVATE KEY');
    }
  });

  it.each([
    ['no type', secret(`stringData: { tls.crt: x }\n`), [['type', 'is required']]],
    ['another type', secret(`type: Opaque\nstringData: { a: b }\n`), [['type', "must be one of kubernetes.io/tls; got 'Opaque'"], ['stringData.a', 'unknown field (allowed: tls.crt, tls.key, ca.crt)']]],
    ['a spec', `apiVersion: v1\nkind: Secret\nmetadata: { name: c }\ntype: kubernetes.io/tls\nspec: {}\n`, [['spec', 'unknown field (allowed: apiVersion, kind, metadata, type, data, stringData)'], ['data', "a kubernetes.io/tls Secret needs 'tls.crt' (PEM certificate chain, leaf first) in data or stringData"], ['data', "a kubernetes.io/tls Secret needs 'tls.key' (PEM private key) in data or stringData"]]],
    ['no certificate', secret(`type: kubernetes.io/tls\nstringData:\n  tls.key: |\n${A.keyPem.replace(/^/gm, '    ')}`), [['data', "a kubernetes.io/tls Secret needs 'tls.crt' (PEM certificate chain, leaf first) in data or stringData"]]],
    ['no key', secret(`type: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(A.certPem)}\n`), [['data', "a kubernetes.io/tls Secret needs 'tls.key' (PEM private key) in data or stringData"]]],
    ['data that is not base64', secret(`type: kubernetes.io/tls\ndata:\n  tls.crt: "-----BEGIN"\n  tls.key: ${b64(A.keyPem)}\n`), [['data.tls.crt', 'is not base64 (use stringData for PEM text)']]],
    ['a certificate that is not PEM', secret(`type: kubernetes.io/tls\ndata:\n  tls.crt: ${b64('hello')}\n  tls.key: ${b64(A.keyPem)}\n`), [['data.tls.crt', 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)']]],
    ['a ca.crt (client certificate CA)', `${tlsSecret('c', A)}  ca.crt: x\n`, [['stringData.ca.crt', 'is not supported: gateways do not verify client certificates (remove ca.crt; a chain of intermediates goes in tls.crt after the leaf)']]],
    ['a key that is not a key', secret(`type: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(A.certPem)}\n  tls.key: ${b64('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')}\n`), 'not a PEM private key'],
    ['the key of another certificate', secret(`type: kubernetes.io/tls\ndata:\n  tls.crt: ${b64(A.certPem)}\n  tls.key: ${b64(B.keyPem)}\n`), [['data.tls.key', 'is not the key of the certificate in tls.crt (CN=shop.example)']]],
  ])('refuses %s, with the field path', (_what, yaml, expected) => {
    const errors = errorsOf(yaml);
    if (typeof expected === 'string') {
      expect(errors.length).toBe(1);
      expect(errors[0]![0]).toBe('data.tls.key');
      expect(errors[0]![1]).toContain(expected);
    } else expect(errors).toEqual(expected);
    // No message quotes key material.
    for (const [, m] of errors) for (const k of [A.keyPem, B.keyPem]) expect(m).not.toContain(k.split('\n')[1]!.slice(0, 20));
  });

  it('hands out the key as <redacted> (resource and source), and keeps the stored one', () => {
    const { resources } = applyYaml(tlsSecret('c', A));
    const model = buildModel(1, resources);
    const shown = presentResource(resources[0]!, model) as SecretResource;
    expect(shown.spec.privateKeyPem).toBe('<redacted>');
    expect((shown.source!.stringData as Record<string, string>)['tls.key']).toBe('<redacted>');
    expect(JSON.stringify(shown)).not.toContain(A.keyPem.split('\n')[1]!);
    expect(shown.spec.certificatePem).toBe(A.certPem);
    expect((resources[0] as SecretResource).spec.privateKeyPem).toBe(A.keyPem);
    // kubectl's last-applied-configuration annotation repeats the whole Secret, key included.
    const exported = tlsSecret('c', A).replace('metadata: { name: c, namespace: default }', `metadata:\n  name: c\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '${JSON.stringify({ data: { 'tls.key': Buffer.from(A.keyPem).toString('base64') } })}'`);
    const withNote = applyYaml(exported).resources[0]!;
    const noted = presentResource(withNote, buildModel(1, [withNote]));
    expect(JSON.stringify(noted)).not.toContain(Buffer.from(A.keyPem).toString('base64').slice(0, 40));
    expect(noted.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toBe('<redacted>');
    expect(kindDefinition('Secret').summary(shown)).toMatch(/^kubernetes\.io\/tls shop\.example, www\.shop\.example expires \d{4}-\d\d-\d\d \((89|90) days\)$/);
  });

  it("shows each HTTPS listener's certificate names and expiry in the Gateway's status", () => {
    const { resources, errors } = applyYaml(`${tlsSecret('shop', A)}---\n${GATEWAY}`);
    expect(errors).toEqual([]);
    const model = buildModel(1, resources);
    const gw = presentResource(model.gateways.get('Gateway/default/edge')!, model) as GatewayResource;
    expect(gw.status!.listeners).toMatchObject([
      { name: 'web', certificates: [] },
      { name: 'shop', certificates: [{ secret: 'shop', names: ['shop.example', 'www.shop.example'] }] },
    ]);
    expect(gw.status!.listeners[1]!.certificates[0]!.daysLeft).toBeGreaterThanOrEqual(89);
    expect(kindDefinition('Gateway').summary(gw)).toMatch(/^listeners web HTTP:80, shop HTTPS:443 shop\.example \[shop: shop\.example www\.shop\.example expires \d{4}-\d\d-\d\d\]$/);
  });

  it('refuses to delete a Secret a Gateway serves', () => {
    const model = buildModel(1, applyYaml(`${tlsSecret('shop', A)}---\n${GATEWAY}`).resources);
    expect(checkDelete(['Secret/default/shop'], model).map((e) => [e.resource, e.path, e.message])).toEqual([
      ['Gateway/default/edge', 'spec.listeners[1].tls.certificateRefs[0].name', 'Secret default/shop does not exist (create it with `weft create secret tls shop --cert FILE --key FILE`): Gateway/default/edge still references it'],
    ]);
  });
});
