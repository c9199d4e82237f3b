import { Registry } from '../../src/registry/registry';
import type { TraceStep } from '../../src/model/trace';
import { RoutingEngine } from '../../src/routing/engine';
import { MetadataRouter } from '../../src/routing/metadata-router';
import { loadRulesValue } from '../../src/rules';
import { decide, instance, request, type InstanceSpec } from './helpers';

const INSTANCES: InstanceSpec[] = [
  { service: 'aigc', port: 9001, metadata: { user: 'alice' } },
  { service: 'aigc', port: 9002, metadata: { user: 'bob' } },
  { service: 'aigc', port: 9003 }, // a shared container: no user key
  { service: 'solo', port: 9101, metadata: { user: 'alice' } },
];

/** An engine running only the metadata router, with `failover` for both services' routes. */
function engine(failover: string, mode = 'subset'): RoutingEngine {
  const rules = loadRulesValue({ metadataRoutes: ['aigc', 'solo'].map((service) => ({ service, keys: ['user'], failover, mode })) }, 1);
  if (!rules.ok) throw new Error(JSON.stringify(rules.errors));
  const registry = new Registry();
  registry.batch(() => INSTANCES.forEach((spec) => registry.upsert(instance(spec))));
  const e = new RoutingEngine({ registry: registry.snapshot(), rules: rules.snapshot });
  e.setRouters([new MetadataRouter()]);
  return e;
}

const asUser = (user: string) => request({ ':path': `/generate?user=${user}` });

describe('metadata routing failover others: instances lacking the key', () => {
  it('a known user still gets their own instance', () => {
    expect(decide(engine('others'), 'aigc', asUser('alice'))).toEqual({ kind: 'subset', labels: { user: 'alice' } });
  });

  it('an unknown user, or a request without the key, goes to the instances without the key (labelled "" in EDS)', () => {
    const e = engine('others');
    expect(decide(e, 'aigc', asUser('carol'))).toEqual({ kind: 'subset', labels: { user: '' } });
    expect(decide(e, 'aigc', request({ ':path': '/generate' }))).toEqual({ kind: 'subset', labels: { user: '' } });
  });

  it('in endpoint mode the fallback is the address of those instances', () => {
    expect(decide(engine('others', 'endpoint'), 'aigc', asUser('carol'))).toEqual({ kind: 'endpoints', endpoints: ['10.0.0.1:9003'], first: 0 });
  });

  it("explain counts what an endpoint-mode decision leaves (not the router's input)", () => {
    const trace: TraceStep[] = [];
    decide(engine('others', 'endpoint'), 'aigc', asUser('bob'), trace);
    expect(trace.find((step) => step.router === 'metadata')).toMatchObject({ before: 3, after: 1 });
  });

  it('with no instance lacking the key it rejects with 503 and says why', () => {
    expect(decide(engine('others'), 'solo', asUser('carol'))).toEqual({
      kind: 'reject',
      status: 503,
      body: 'no instance: no healthy instance with this metadata, and none without the keys',
    });
  });
});
