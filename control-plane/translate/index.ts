/** Translation from the config model to xDS resources: the public surface. */
export { TranslationCache, Translator, SIDECAR_INBOUND_PORT, SIDECAR_OUTBOUND_PORT } from './translator.js';
export { clusterName, inboundClusterName, inboundRouteName, hostForms, OUTBOUND_ROUTE, OUTBOUND_LISTENER, INBOUND_LISTENER } from './names.js';
