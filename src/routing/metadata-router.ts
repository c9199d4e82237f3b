import type { RequestContext } from '../context/request-context';
import type { Labels } from '../model/instance';
import type { MetadataRoute } from '../model/rule';
import { healthyEndpoints, type Subset } from '../registry/service-view';
import { mergeLabels } from './labels';
import type { RouteInput, RouteResult, Router } from './router';

const lackingByRoute = new WeakMap<MetadataRoute, Labels>();

/** The route's keys, each with the value "" (an endpoint without the key): one object per route, so subset memos hit. */
function lackingLabels(route: MetadataRoute): Labels {
  let labels = lackingByRoute.get(route);
  if (!labels) {
    labels = Object.freeze(Object.fromEntries(route.keys.map((key) => [key, ''])));
    lackingByRoute.set(route, labels);
  }
  return labels;
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

  configure(): void {
    /* metadata routes come from the rule snapshot */
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const route = input.rules.metadataRoutes.get(input.service.key);
    if (!route) return undefined;
    const wanted: Record<string, string> = {};
    let complete = true;
    for (const key of route.keys) {
      const value = requestMetadata(ctx, key);
      if (value === undefined || value === '') complete = false;
      else wanted[key] = value;
    }
    const labels = complete ? mergeLabels(input.labels, wanted) : undefined;
    const subset = labels && input.service.subset(labels);
    if (labels && subset && subset.healthy > 0) return choose(route, subset, labels, 'metadata match');
    return failover(route, input, complete ? 'no healthy instance with this metadata' : 'request lacks metadata');
  }
}

function choose(route: MetadataRoute, subset: Subset, labels: Labels, note: string): RouteResult {
  if (route.mode === 'endpoint') {
    return { kind: 'final', decision: { kind: 'endpoints', endpoints: healthyEndpoints(subset) }, note };
  }
  return { kind: 'narrow', candidates: subset, labels, note };
}

function failover(route: MetadataRoute, input: RouteInput, why: string): RouteResult {
  switch (route.failover) {
    case 'none':
      return { kind: 'final', decision: { kind: 'reject', status: 503, body: `no instance: ${why}` }, note: `${why}, failover none` };
    case 'all':
      return { kind: 'narrow', candidates: input.candidates, labels: input.labels, note: `${why}, failover all` };
    case 'others': {
      const labels = mergeLabels(input.labels, lackingLabels(route));
      const others = input.service.subset(labels);
      if (others.healthy === 0) {
        return { kind: 'final', decision: { kind: 'reject', status: 503, body: `no instance: ${why}, and none without the keys` }, note: `${why}, failover others: empty` };
      }
      return choose(route, others, labels, `${why}, failover others`);
    }
  }
}
