/**
 * CompressionPolicy (weft.dev/v1alpha1, namespaced): response compression at the gateway, as
 * Envoy's compressor filter does it (gzip and brotli, Accept-Encoding negotiation, a minimum
 * size, a list of media types). It applies to the Gateways / listeners its `spec.targetRefs` name,
 * and to the HTTPRoute / GRPCRoute rules that name it in an ExtensionRef, which overrides the
 * Gateway's policy for those rules (policy-attachment.ts). `disabled: true` makes an opt-out:
 * named by a rule, that rule's responses are not compressed; targeting a listener, that listener's
 * are not (whatever its Gateway's policy says).
 */
import type { CompressionAlgorithm, CompressionPolicySpec } from '../types.js';
import type { Reader } from '../schema.js';
import { API_VERSION_WEFT } from '../api-versions.js';
import type { KindDefinition } from './kind.js';
import { readTargetRefs, targetRefReferences } from './policy-attachment.js';

/** Envoy's min_content_length is a UInt32Value. */
const MAX_UINT32 = 4_294_967_295;
/** RFC 9110 media type without parameters (token "/" token). */
const MEDIA_TYPE = /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/;
const ALGORITHMS: readonly CompressionAlgorithm[] = ['brotli', 'gzip'];
const FIELDS = ['targetRefs', 'disabled', 'algorithms', 'minContentLength', 'contentTypes', 'disableOnETag', 'removeAcceptEncoding', 'gzip', 'brotli'];

export function readCompressionPolicy(r: Reader, v: unknown): CompressionPolicySpec | undefined {
  const o = r.obj(v, 'spec', FIELDS);
  if (!o) return undefined;
  const set = (k: string) => o[k] !== undefined && o[k] !== null;
  const targetRefs = readTargetRefs(r, o.targetRefs, 'spec.targetRefs', { required: false });
  const disabled = r.bool(o.disabled, 'spec.disabled') ?? false;
  if (set('disabled') && !disabled) r.err('spec.disabled', 'must be true, or left out');
  if (disabled) {
    for (const k of FIELDS) if (k !== 'disabled' && k !== 'targetRefs' && set(k)) r.err(`spec.${k}`, 'has no effect on a disabled policy (an opt-out compresses nothing)');
    targetRefs.forEach((t, i) => {
      if (t.sectionName === undefined) r.err(`spec.targetRefs[${i}]`, 'a disabled policy on a whole Gateway has no effect (no policy compresses nothing); target a listener (sectionName) to opt it out of its Gateway\'s policy');
    });
  }
  const seen = new Set<string>();
  const algorithms = set('algorithms')
    ? r.arr(o.algorithms, 'spec.algorithms', (x, q) => {
        const a = r.str(x, q, { oneOf: ALGORITHMS }) as CompressionAlgorithm | undefined;
        if (a && seen.has(a)) {
          r.err(q, `'${a}' is listed twice`);
          return undefined;
        }
        if (a) seen.add(a);
        return a;
      }, { nonEmpty: true })
    : [...ALGORITHMS];
  const minContentLength = r.int(o.minContentLength, 'spec.minContentLength', 0, MAX_UINT32) ?? 30;
  const typesSeen = new Set<string>();
  const contentTypes = r.arr(o.contentTypes, 'spec.contentTypes', (x, q) => {
    const t = r.str(x, q, { pattern: MEDIA_TYPE, patternHelp: 'a lowercase media type (type/subtype, no parameters)' });
    if (t && typesSeen.has(t)) {
      r.err(q, `'${t}' is listed twice`);
      return undefined;
    }
    if (t) typesSeen.add(t);
    return t;
  });
  if (set('contentTypes') && Array.isArray(o.contentTypes) && o.contentTypes.length === 0) r.err('spec.contentTypes', 'must not be empty (leave it out for the default list)');
  const disableOnETag = r.bool(o.disableOnETag, 'spec.disableOnETag') ?? false;
  const removeAcceptEncoding = r.bool(o.removeAcceptEncoding, 'spec.removeAcceptEncoding') ?? false;
  const gz = r.obj(o.gzip, 'spec.gzip', ['level'], ['level']);
  const br = r.obj(o.brotli, 'spec.brotli', ['quality'], ['quality']);
  const gzip: CompressionPolicySpec['gzip'] = {};
  const brotli: CompressionPolicySpec['brotli'] = {};
  if (gz) {
    const level = r.int(gz.level, 'spec.gzip.level', 1, 9);
    if (level !== undefined) gzip.level = level;
    if (!disabled && !algorithms.includes('gzip')) r.err('spec.gzip', 'has no effect: gzip is not in spec.algorithms');
  }
  if (br) {
    const quality = r.int(br.quality, 'spec.brotli.quality', 0, 11);
    if (quality !== undefined) brotli.quality = quality;
    if (!disabled && !algorithms.includes('brotli')) r.err('spec.brotli', 'has no effect: brotli is not in spec.algorithms');
  }
  return { targetRefs, disabled, algorithms: disabled ? [] : algorithms, minContentLength, contentTypes, disableOnETag, removeAcceptEncoding, gzip, brotli };
}

export const compressionPolicyKind: KindDefinition<'CompressionPolicy'> = {
  kind: 'CompressionPolicy',
  apiVersions: [API_VERSION_WEFT],
  plural: 'compressionpolicies',
  shortNames: [],
  read: (r, spec) => readCompressionPolicy(r, spec),
  references: (res, ctx) => targetRefReferences(res, ctx.model.compressionPolicies.values(), ctx),
  addToModel: (b, res) => void b.compressionPolicies.set(`CompressionPolicy/${res.metadata.namespace}/${res.metadata.name}`, res),
  summary(res) {
    const s = res.spec;
    const where = s.targetRefs.map((t) => `gateway/${t.name}${t.sectionName ? `/${t.sectionName}` : ''}`).join(', ');
    const what = s.disabled ? 'disabled' : `${s.algorithms.join(', ')} >= ${s.minContentLength} B`;
    return where ? `${what} on ${where}` : what;
  },
};
