/**
 * xDS v3 resource type URLs and the node-metadata contract between Weft proxies and the control
 * plane. Shared by both programs; nothing here depends on either.
 */
export const TYPE_URL = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type ResourceKind = keyof typeof TYPE_URL;
export type TypeUrl = (typeof TYPE_URL)[ResourceKind];

/** Make-before-break push order: clusters and their endpoints before what references them. */
export const PUSH_ORDER: readonly TypeUrl[] = [TYPE_URL.secret, TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route];

export const KIND_BY_TYPE_URL: ReadonlyMap<string, ResourceKind> = new Map(
  (Object.entries(TYPE_URL) as [ResourceKind, TypeUrl][]).map(([k, v]) => [v, k]),
);

/**
 * Keys a Weft proxy (or any xDS client that wants to register an endpoint) sets in
 * `Node.metadata`. Proxyless clients that only consume config set none of them.
 */
export const NODE_META = {
  /** 'sidecar' | 'gateway' | 'proxyless' (default when absent). */
  role: 'WEFT_ROLE',
  /** Service this instance belongs to (registers it as an endpoint of that service). */
  service: 'WEFT_SERVICE',
  namespace: 'WEFT_NAMESPACE',
  /** IP literal and port peers should connect to (the sidecar's inbound listener). */
  instanceIp: 'WEFT_INSTANCE_IP',
  instancePort: 'WEFT_INSTANCE_PORT',
  /** Struct of string labels (e.g. version: v2), used for subsets. */
  labels: 'WEFT_LABELS',
  /** Protocol the local app speaks: http | http2 | grpc. */
  appProtocol: 'WEFT_APP_PROTOCOL',
  /** true on a node re-sent mid-stream: the proxy is draining and its instance should leave now. */
  draining: 'WEFT_DRAINING',
  /** Local app port (sidecars forward inbound traffic there). */
  appPort: 'WEFT_APP_PORT',
  /**
   * The instance this node serves traffic for, when several xDS nodes share one (the workers of
   * `weft sidecar --workers N` share their listeners): the registry keys the endpoint by it, so
   * the instance is one endpoint that stays while any of its nodes is connected. Default: node id.
   */
  instance: 'WEFT_INSTANCE',
  /** Worker index (1..N) of a `--workers N` sidecar; display only. */
  worker: 'WEFT_WORKER',
  /** `<namespace>/<name>` of the Gateway a `weft gateway` process serves (role gateway). */
  gateway: 'WEFT_GATEWAY',
} as const;

export type ProxyRole = 'sidecar' | 'gateway' | 'proxyless';

/** Names of the sidecar's socket listeners, shared by the translator and the sidecar. */
export const SIDECAR_LISTENER = { outbound: 'outbound', inbound: 'inbound' } as const;
