/** Prometheus text for the control plane's /metrics: proxies, pushes, ACKs, NACKs, config. */
import type { ControlPlane } from '../control-plane.js';
import type { XdsServer } from '../xds/server.js';

export function renderMetrics(cp: ControlPlane, xds: XdsServer): string {
  const c = xds.counters();
  const lines = [
    '# HELP weft_config_revision Revision of the stored configuration.',
    '# TYPE weft_config_revision gauge',
    `weft_config_revision ${cp.model.revision}`,
    '# HELP weft_config_resources Stored configuration resources.',
    '# TYPE weft_config_resources gauge',
    `weft_config_resources ${cp.model.resources.size}`,
    '# HELP weft_xds_connected_proxies Open xDS streams.',
    '# TYPE weft_xds_connected_proxies gauge',
    `weft_xds_connected_proxies ${c.connectedStreams}`,
    '# HELP weft_xds_pushes_total xDS responses sent.',
    '# TYPE weft_xds_pushes_total counter',
    `weft_xds_pushes_total ${c.pushes}`,
    '# HELP weft_xds_acks_total xDS ACKs received.',
    '# TYPE weft_xds_acks_total counter',
    `weft_xds_acks_total ${c.acks}`,
    '# HELP weft_xds_nacks_total xDS NACKs received (once per nonce).',
    '# TYPE weft_xds_nacks_total counter',
    `weft_xds_nacks_total ${c.nacks}`,
    '# HELP weft_registry_instances Instances registered through xDS.',
    '# TYPE weft_registry_instances gauge',
    `weft_registry_instances ${cp.registry.list().length}`,
  ];
  return `${lines.join('\n')}\n`;
}
