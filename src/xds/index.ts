/** The xDS control plane: see docs/XDS.md for naming and protocol behaviour, docs/PERFORMANCE.md for numbers. */
export { XdsServer, type XdsSources } from './server';
export { XDS_SERVICE_NAMES } from './services';
export { NONE_HELD, subsetPolicy } from './selectors';
export { SECTIONS as XDS_SECTIONS } from './types';
