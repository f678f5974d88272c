// A sidecar loads Ajv only for a config that has a ValidationPolicy (issue 24 item 4), before the
// response carrying it is decoded (compiling the schemas is part of decoding). This file imports
// only sidecar modules (the integration project gives each file its own module cache), so Ajv
// starts out not loaded here, as in a sidecar process.
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { compileValidation, validationLoaded, type CompileProblem } from '../../../common/validation/compile.js';
import { ClusterSchema } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ValidationSchema } from '../../../proto/gen/weft/v1/validation_pb.js';
import { beforeDecode } from '../../../sidecar/xds/decode-needs.js';

const SCHEMA = { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } };

describe('libraries loaded before a response is decoded (sidecar/xds/decode-needs.ts)', () => {
  it('fails closed before Ajv is in; loads it for a resource that carries a Validation, and only for one', async () => {
    expect(validationLoaded()).toBe(false);
    const early: CompileProblem[] = [];
    compileValidation({ requestBodySchema: SCHEMA }, early);
    expect(early.map((p) => p.message)).toEqual(['the JSON Schema validator (Ajv) is not loaded in this process']);

    const cluster = toBinary(ClusterSchema, create(ClusterSchema, { name: 'web' }));
    // A Validation in a virtual host's typed_per_filter_config (an Any inside the resource).
    const validation = anyPack(ValidationSchema, create(ValidationSchema, { name: 'default/web', requestBodySchema: JSON.stringify(SCHEMA) }));
    const route = toBinary(RouteConfigurationSchema, create(RouteConfigurationSchema, {
      name: 'web',
      virtualHosts: [{ name: 'web', domains: ['*'], typedPerFilterConfig: { 'weft.filters.http.validation': validation } }],
    }));
    expect(beforeDecode([cluster])).toBeUndefined();
    expect(beforeDecode([])).toBeUndefined();
    const wait = beforeDecode([cluster, route]);
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    expect(validationLoaded()).toBe(true);
    expect(beforeDecode([route])).toBeUndefined(); // loaded: nothing is searched or waited for

    const problems: CompileProblem[] = [];
    const compiled = compileValidation({ requestBodySchema: SCHEMA }, problems);
    expect(problems).toEqual([]);
    expect(compiled.body?.validate({ n: 1 })).toBe(true);
    expect(compiled.body?.validate({ n: 'x' })).toBe(false);
  });
});
