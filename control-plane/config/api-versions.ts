/** The apiVersions Weft documents carry (types.ts re-exports them; kind definitions name theirs). */
export const API_VERSION_WEFT = 'weft.dev/v1alpha1';
export const API_VERSION_GATEWAY = 'gateway.networking.k8s.io/v1';
/** The Gateway API group (parentRefs to a Gateway name it). */
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
