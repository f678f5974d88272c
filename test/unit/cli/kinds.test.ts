// The CLI spells kinds from a static table (loading the kind registry costs ~340 ms of start-up):
// it must stay equal to the registry, or `weft get NEWKIND` would say "unknown kind".
import { describe, expect, it } from 'vitest';
import { KIND_DEFINITIONS } from '../../../control-plane/config/kinds/index.js';
import { KIND_NAMES, parseKind } from '../../../control-plane/cli/kinds.js';

describe('CLI kind names', () => {
  it('equal the kind registry (kind, plural, short names, singleton), in its order', () => {
    const fromRegistry = KIND_DEFINITIONS.map((d) => ({ kind: d.kind, plural: d.plural, shortNames: [...d.shortNames], ...(d.singleton === undefined ? {} : { singleton: d.singleton }) }));
    expect(KIND_NAMES.map((k) => ({ ...k, shortNames: [...k.shortNames] }))).toEqual(fromRegistry);
  });

  it('parse every spelling in any case', () => {
    expect([parseKind('svc'), parseKind('Services'), parseKind('HTTPRoute'), parseKind('httproutes'), parseKind('nope')]).toEqual(['Service', 'Service', 'HTTPRoute', 'HTTPRoute', undefined]);
  });
});
