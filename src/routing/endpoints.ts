import type { Decision } from '../model/decision';
import { pickEndpoint } from '../registry/service-view';

/** An endpoint-mode decision over a registry endpoint list; which endpoint serves this request is picked by weight. */
export function endpointDecision(endpoints: readonly string[]): Decision & { kind: 'endpoints' } {
  return { kind: 'endpoints', endpoints, first: pickEndpoint(endpoints) };
}
