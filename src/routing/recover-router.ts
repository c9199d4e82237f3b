import type { RequestContext } from '../context/request-context';
import { NO_LABELS } from '../model/instance';
import { allEndpoints } from '../registry/service-view';
import { endpointDecision } from './endpoints';
import type { RouteInput, RouteResult, Router } from './router';
import { ConfigReader } from './router-kit';

const MODES = ['recover-all', 'zero-protect'] as const;
type Mode = (typeof MODES)[number];

/**
 * No labels: the whole service. A constant object, not a fresh `{}`, so the engine's
 * `service.subset(labels)` check and the encoded-answer cache both hit by identity.
 */

/**
 * The last resort when the chain's choice has no healthy instance.
 * - `recover-all`: widen to every instance of the service (the labels chosen so far are
 *   dropped: they describe the instances that cannot serve).
 * - `zero-protect` (Polaris "all dead, all alive"): keep the chosen instances and treat
 *   them all as healthy. For a labelled subset that is no opinion: Envoy's panic threshold
 *   routes among a subset's unhealthy hosts. For an explicit list (nearby, custom routers)
 *   it sends every listed endpoint, which the engine would otherwise refuse with 503.
 * An empty choice also has no healthy instance: recover-all widens it too, while
 * zero-protect has nothing to protect and leaves it to the engine (explicit list: 503;
 * labels: Envoy's subset fallback_policy).
 */
export class RecoverRouter implements Router {
  readonly name = 'recover';
  readonly order = 900;
  private mode: Mode = parse({});

  configure(config: unknown): void {
    this.mode = parse(config);
  }

  route(_ctx: RequestContext, input: RouteInput): RouteResult {
    const { service, candidates } = input;
    if (candidates.healthy > 0) return undefined;
    if (this.mode === 'recover-all') {
      if (candidates === service.all) return undefined;
      return { kind: 'narrow', candidates: service.all, labels: NO_LABELS, note: 'recover-all: no healthy instance chosen, widened to the service' };
    }
    if (candidates.instances.length === 0 || candidates === service.subset(input.labels)) return undefined;
    return { kind: 'final', decision: endpointDecision(allEndpoints(candidates)), note: 'zero-protect: no healthy instance, all chosen ones treated as healthy' };
  }
}

function parse(config: unknown): Mode {
  return new ConfigReader('recover', config, ['mode']).oneOf('mode', MODES, 'recover-all');
}
