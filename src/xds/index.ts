/** The xDS control plane: see docs/XDS.md for naming and protocol behaviour, docs/PERFORMANCE.md for numbers. */
export { XdsServer, DEFAULT_DEBOUNCE_MS, DEFAULT_MAX_DEBOUNCE_MS, type XdsOptions, type XdsSources } from './server';
export { subsetPolicy, type SubsetPolicy } from './selectors';
export { CDS, EDS, LDS, RDS, type ResourceType } from './types';
export { ORIGINAL_DST_HEADER } from './resources';
export { XDS_SERVICE_NAMES } from './services';
