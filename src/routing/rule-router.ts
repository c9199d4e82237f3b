import type { RequestContext } from '../context/request-context';
import type { CompiledRule, CompiledSource, Destination } from '../model/rule';
import { serviceKey } from '../model/instance';
import type { Decision } from '../model/decision';
import type { Labels } from '../model/instance';
import type { Skipped } from '../model/trace';
import { healthyEndpoints, pickEndpoint, type Subset } from '../registry/service-view';
import type { Final, Narrowed, RouteInput, RouteResult, Router } from './router';
import { mergeLabels } from './labels';
import { refuseConfig } from './router-kit';
import { pickDestination } from './weighted';

const NO_RULES: readonly CompiledRule[] = [];

/** A switch to another cluster; an endpoint-mode one (override_host) is handed the addresses of the labels' instances. */
function switchTo(cluster: string, labels: Labels, input: RouteInput): Decision {
  const target = input.registry.clusters.get(cluster);
  if (!target || input.rules.metadataRoutes.get(target.key)?.mode !== 'endpoint') return { kind: 'cluster', cluster, labels };
  const endpoints = healthyEndpoints(target.subset(labels));
  if (endpoints.length === 0) return { kind: 'reject', status: 503, body: `no healthy instance in ${cluster}` };
  return { kind: 'cluster', cluster, labels, endpoints, first: pickEndpoint(endpoints) };
}

/**
 * PolarisMesh rule routing: the caller's outbound rules, then the callee's inbound
 * rules (the caller's outbound rule wins a conflict, as in Polaris' routing guide); the
 * first rule with a matching source decides. Its highest-priority group
 * with a healthy destination wins, split by weight; if none can serve, the rule's
 * failover applies. A request no rule matches passes on untouched.
 */
export class RuleRouter implements Router {
  readonly name = 'rule';
  readonly order = 200;

  configure(config: unknown): void {
    refuseConfig(this.name, config);
  }

  route(ctx: RequestContext, input: RouteInput): RouteResult {
    const { service } = input;
    const outbound = ctx.caller.service ? input.rules.outbound.get(serviceKey(ctx.caller.namespace, ctx.caller.service)) : undefined;
    const rule = (outbound && firstMatch(outbound, ctx, service.name, service.namespace))
      ?? firstMatch(input.rules.inbound.get(service.key) ?? NO_RULES, ctx, ctx.caller.service, ctx.caller.namespace);
    return rule ? applyRule(rule, ctx, input) : undefined;
  }
}

function firstMatch(rules: readonly CompiledRule[], ctx: RequestContext, peerService: string, peerNamespace: string): CompiledRule | undefined {
  for (const rule of rules) {
    if (rule.sources.length === 0) return rule;
    for (const source of rule.sources) if (sourceMatches(source, ctx, peerService, peerNamespace)) return rule;
  }
  return undefined;
}

/** `peer` is the caller for inbound rules and the callee for outbound ones. */
function sourceMatches(source: CompiledSource, ctx: RequestContext, peerService: string, peerNamespace: string): boolean {
  if (source.service !== '*' && source.service !== peerService) return false;
  if (source.namespace !== '*' && source.namespace !== peerNamespace) return false;
  for (const argument of source.arguments) if (!argument.test(ctx.label(argument.source))) return false;
  return true;
}

function applyRule(rule: CompiledRule, ctx: RequestContext, input: RouteInput): Narrowed | Final {
  const canServe = (d: Destination) => (destinationSubset(d, input)?.healthy ?? 0) > 0;
  const chosen = firstServing(rule, canServe, ctx);
  const result = chosen ? toDestination(rule, chosen, input, rule.name) : failover(rule, input);
  // Only explain's dry run works out what was passed over and why: a live request pays nothing for it.
  return input.explaining ? { ...result, skipped: passedOver(rule, input, chosen?.priority ?? Infinity) } : result;
}

/** The highest-priority group that can serve picks one of its destinations by weight; undefined when none can. */
function firstServing(rule: CompiledRule, canServe: (d: Destination) => boolean, ctx: RequestContext): Destination | undefined {
  for (const group of rule.priorityGroups) {
    const chosen = pickDestination(group, canServe, ctx, rule.stickyBy);
    if (chosen) return chosen;
  }
  return undefined;
}

/** No group can serve. */
function failover(rule: CompiledRule, input: RouteInput): Narrowed | Final {
  switch (rule.failover.kind) {
    case 'all':
      return { kind: 'narrow', candidates: input.candidates, labels: input.labels, note: `${rule.name}: no healthy group, failover all`, rule: rule.name };
    case 'none':
      return {
        kind: 'final',
        decision: { kind: 'reject', status: 503, body: `no healthy instance for rule ${rule.name}` },
        note: `${rule.name}: no healthy group, failover none`,
        rule: rule.name,
      };
    case 'group': {
      const name = rule.failover.name;
      return toDestination(rule, rule.destinations.find((d) => d.name === name)!, input, `${rule.name}: failover to ${name}`);
    }
  }
}

/**
 * The instances a destination sends to: its labels on top of the earlier routers' (a lane's)
 * here, another cluster's judged on its own; undefined when no registered service has that cluster.
 */
function destinationSubset(d: Destination, input: RouteInput): Subset | undefined {
  return d.cluster ? input.registry.clusters.get(d.cluster)?.subset(d.labels) : input.service.subset(mergeLabels(input.labels, d.labels));
}

/** For explain: the destinations down to priority `upTo` (every one when no group could serve) that could not serve, and why. */
function passedOver(rule: CompiledRule, input: RouteInput, upTo: number): Skipped[] {
  const skipped: Skipped[] = [];
  for (const d of [...rule.destinations].sort((a, b) => a.priority - b.priority)) {
    const reason = d.priority <= upTo ? whyNot(d, input) : undefined;
    if (reason) skipped.push({ destination: d.name, priority: d.priority, reason });
  }
  return skipped;
}

/** Why a destination could not serve, as `canServe` and the weighted pick judge it; undefined if it could. */
function whyNot(d: Destination, input: RouteInput): string | undefined {
  if (d.isolate) return 'isolated';
  if (d.weight === 0) return 'weight 0';
  const subset = destinationSubset(d, input);
  if (!subset) return `no registered service has cluster ${d.cluster}`;
  if (subset.healthy > 0) return undefined;
  const where = d.cluster ? ` in ${d.cluster}` : '';
  const labels = Object.entries(d.cluster ? d.labels : mergeLabels(input.labels, d.labels)).map(([k, v]) => `${k}=${v}`).join(',');
  const count = subset.instances.length;
  return count === 0 ? `no instance${where} has ${labels}` : `none of the ${count} instance(s)${where} with ${labels} is healthy (unhealthy, or weight 0)`;
}

function toDestination(rule: CompiledRule, d: Destination, input: RouteInput, note: string): Narrowed | Final {
  if (d.cluster) return { kind: 'final', decision: switchTo(d.cluster, d.labels, input), note, rule: rule.name };
  const labels = mergeLabels(input.labels, d.labels);
  return { kind: 'narrow', candidates: input.service.subset(labels), labels, note, rule: rule.name };
}
