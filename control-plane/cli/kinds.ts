/** CLI spellings of resource kinds: `weft get svc`, `weft get httproutes`, ... */
import { KINDS, type Kind } from '../config/types.js';

const ALIASES: Record<string, Kind> = {
  service: 'Service',
  services: 'Service',
  svc: 'Service',
  httproute: 'HTTPRoute',
  httproutes: 'HTTPRoute',
  grpcroute: 'GRPCRoute',
  grpcroutes: 'GRPCRoute',
  trafficpolicy: 'TrafficPolicy',
  trafficpolicies: 'TrafficPolicy',
  tp: 'TrafficPolicy',
  authorizationpolicy: 'AuthorizationPolicy',
  authorizationpolicies: 'AuthorizationPolicy',
  authz: 'AuthorizationPolicy',
  grpctranslation: 'GRPCTranslation',
  grpctranslations: 'GRPCTranslation',
  meshconfig: 'MeshConfig',
  meshconfigs: 'MeshConfig',
};

export function parseKind(s: string): Kind | undefined {
  return ALIASES[s.toLowerCase()] ?? KINDS.find((k) => k === s);
}

export const KIND_HELP = 'service (svc), httproute, grpcroute, trafficpolicy (tp), authorizationpolicy (authz), grpctranslation, meshconfig';
