import type { RequestContext } from '../context/request-context';
import type { Labels } from '../model/instance';
import type { MetadataRoute } from '../model/rule';
import { healthyEndpoints, type Subset } from '../registry/service-view';
import { endpointDecision } from './endpoints';
import { mergeLabels } from './labels';
import { LabelCache, refuseConfig } from './router-kit';
import type { RouteInput, RouteResult, Router } from './router';

const labelsByRoute = new WeakMap<MetadataRoute, LabelCache>();

/** The route's interned label sets: one object per combination of request values, and `without` for `others`. */
function routeLabels(route: MetadataRoute): LabelCache {
  let cache = labelsByRoute.get(route);
  if (!cache) labelsByRoute.set(route, (cache = new LabelCache(route.keys)));
  return cache;
}

/** tRPC metarouter order: query, then header (lower-cased key), then cookie. */
export function requestMetadata(ctx: RequestContext, key: string): string | undefined {
  return ctx.query(key) ?? ctx.header(key.toLowerCase()) ?? ctx.cookie(key);
}

/**
 * Metadata routing: the request's values for the route's keys select the instances
 * with the same metadata ("user A to user A's container"). When the request lacks a
 * key or no healthy instance matches, the route's failover decides.
 */
export class MetadataRouter implements Router {
  readonly name = 'metadata';
  readonly order = 300;

  configure(config: unknown): void {
    refuseConfig(this.name, config);
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const route = input.rules.metadataRoutes.get(input.service.key);
    if (!route) return undefined;
    const values: string[] = [];
    for (const key of route.keys) {
      const value = route.claims ? ctx.claim(route.claims[key]!) : requestMetadata(ctx, key);
      if (value === undefined || value === '') break;
      values.push(value);
    }
    const complete = values.length === route.keys.length;
    const labels = complete ? mergeLabels(input.labels, routeLabels(route).of(...values)) : undefined;
    const subset = labels && input.service.subset(labels);
    if (labels && subset && subset.healthy > 0) return choose(route, input, subset, labels, 'metadata match');
    return failover(route, input, complete ? 'no healthy instance with this metadata' : 'request lacks metadata');
  }
}

function choose(route: MetadataRoute, input: RouteInput, subset: Subset, labels: Labels, note: string): RouteResult {
  const metadataRoute = input.service.key;
  if (route.mode === 'endpoint') {
    return { kind: 'final', decision: endpointDecision(healthyEndpoints(subset)), note, metadataRoute };
  }
  return { kind: 'narrow', candidates: subset, labels, note, metadataRoute };
}

function failover(route: MetadataRoute, input: RouteInput, why: string): RouteResult {
  const metadataRoute = input.service.key;
  switch (route.failover) {
    case 'none':
      return { kind: 'final', decision: { kind: 'reject', status: 503, body: `no instance: ${why}` }, note: `${why}, failover none`, metadataRoute };
    case 'all':
      return { kind: 'narrow', candidates: input.candidates, labels: input.labels, note: `${why}, failover all`, metadataRoute };
    case 'others': {
      const labels = mergeLabels(input.labels, routeLabels(route).without);
      const others = input.service.subset(labels);
      if (others.healthy === 0) {
        return { kind: 'final', decision: { kind: 'reject', status: 503, body: `no instance: ${why}, and none without the keys` }, note: `${why}, failover others: empty`, metadataRoute };
      }
      return choose(route, input, others, labels, `${why}, failover others`);
    }
  }
}
