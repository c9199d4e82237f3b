/**
 * Names ext_proc's answers and the xDS resources must agree on; one definition, so the
 * decision metaroute writes is always one the clusters it serves can act on.
 */

/** The dynamic-metadata namespace Envoy's router merges into metadata_match, and where endpoints carry their labels. */
export const LB_NAMESPACE = 'envoy.lb';
/** envoy.lb key read by override_host (Envoy ≥ 1.35): `ip:port[,ip:port...]`, later entries for retries. */
export const ENDPOINT_LIST_KEY = 'x-gateway-destination-endpoint';
