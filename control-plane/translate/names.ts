/**
 * Resource naming, Istio-familiar so operators recognise it:
 *   cluster / ClusterLoadAssignment  outbound|<port>|<subset>|<service>.<namespace>
 *   local app cluster (sidecar)      inbound|<appPort>|<service>.<namespace>
 *   RouteConfiguration               outbound (every service's virtual hosts, per namespace view)
 *                                    inbound|<service>.<namespace> (sidecar inbound)
 *   Listener                         outbound, inbound (sidecar); one per host form (proxyless);
 *                                    outbound|tcp|<localPort> (sidecar: one per Service upstream);
 *                                    gateway.<listener> (gateway: one per Gateway listener port)
 *   RouteConfiguration (gateway)     gateway.<listener>, the listener's virtual hosts
 */
import { SIDECAR_LISTENER } from '../../common/xds-types.js';
import type { ServiceResource } from '../config/types.js';

export const OUTBOUND_ROUTE = 'outbound';
export const OUTBOUND_LISTENER = SIDECAR_LISTENER.outbound;
export const INBOUND_LISTENER = SIDECAR_LISTENER.inbound;

export function clusterName(namespace: string, service: string, port: number, subset = ''): string {
  return `outbound|${port}|${subset}|${service}.${namespace}`;
}

export function inboundClusterName(namespace: string, service: string, appPort: number): string {
  return `inbound|${appPort}|${service}.${namespace}`;
}

/** The listener a sidecar opens on an upstream's local port (Service spec.upstreams). */
export function outboundTcpListenerName(localPort: number): string {
  return `outbound|tcp|${localPort}`;
}

export function inboundRouteName(namespace: string, service: string): string {
  return `inbound|${service}.${namespace}`;
}

/**
 * Host names a client may use for one service port. Short forms (`orders`, `orders:8080`) only for
 * services in the caller's namespace, and port-less forms only on the first port, so no two
 * virtual hosts share a domain (Envoy and gRPC reject duplicates).
 */
export function hostForms(svc: ServiceResource, portIndex: number, callerNamespace: string): string[] {
  const { name, namespace } = svc.metadata;
  const port = svc.spec.ports[portIndex]!.port;
  const bases = [`${name}.${namespace}`, `${name}.${namespace}.svc`];
  if (namespace === callerNamespace) bases.unshift(name);
  const out: string[] = [];
  for (const b of bases) {
    if (portIndex === 0) out.push(b);
    out.push(`${b}:${port}`);
  }
  return out;
}

/** A gateway's Listener and its RouteConfiguration, for Gateway listener `listener`. */
export function gatewayListenerName(listener: string): string {
  return `gateway.${listener}`;
}

/** Domains of a gateway virtual host: the host with and without the listener port, or `*` alone. */
export function gatewayDomains(hostname: string, port: number): string[] {
  return hostname === '*' ? ['*'] : [hostname, `${hostname}:${port}`];
}
