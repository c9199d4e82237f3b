import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeDecision } from '../../src/extproc/responses';
import type { Decision } from '../../src/model/decision';
import { decodeAnswer, explanation, lbLabels, setHeaders } from '../support/extproc-client';

describe('answers naming what decided', () => {
  it('are encoded once per decision, rule and metadata route, and say which', () => {
    const decision: Decision = { kind: 'subset', labels: { user: 'a' } };
    const byRoute = encodeDecision(decision, undefined, 'staff', 'default/aigc');
    expect(encodeDecision(decision, undefined, 'staff', 'default/aigc')).toBe(byRoute);
    const answers = [byRoute, encodeDecision(decision, undefined, '', 'default/aigc'), encodeDecision(decision, undefined, 'staff'), encodeDecision(decision)].map(decodeAnswer);
    expect(answers.map(explanation)).toEqual([{ rule: 'staff', metadataRoute: 'default/aigc' }, { metadataRoute: 'default/aigc' }, { rule: 'staff' }, undefined]);
    expect(answers.map(lbLabels)).toEqual([{ user: 'a' }, { user: 'a' }, { user: 'a' }, { user: 'a' }]);
  });

  it('keep nothing of the rules and routes they named once their decisions are gone (rule updates renaming rules)', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const snapshots = 20;
    const routes = 1000;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let version = 0; version < snapshots; version++) {
      // Each rules snapshot has decision objects of its own, and here rule names of its own.
      const labels = { user: 'a' };
      for (let i = 0; i < routes; i++) encodeDecision({ kind: 'subset', labels }, undefined, `rule-v${version}`, `ns/service-${i}`);
    }
    gc();
    const kept = process.memoryUsage().heapUsed - before;
    // 20,000 (route, rule) pairs: a table of them kept at least 100 bytes each.
    expect(kept).toBeLessThan((snapshots * routes * 100) / 4);
  });

  it('keep a bounded number per live decision when a router names a rule or route per request, each answer still naming its own', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const decision: Decision = { kind: 'subset', labels: { user: 'a' } }; // alive throughout, as a rule destination's is
    const requests = 20_000;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < requests; i++) {
      const [rule, route] = i % 2 === 0 ? [`user-${i}`, ''] : ['staff', `ns/service-${i}`];
      const answer = decodeAnswer(encodeDecision(decision, undefined, rule, route));
      if (i % 997 === 0) expect(explanation(answer)).toEqual(route ? { rule, metadataRoute: route } : { rule });
    }
    gc();
    const kept = process.memoryUsage().heapUsed - before;
    // A cache of every (route, rule) would keep at least 100 bytes per request.
    expect(kept).toBeLessThan((requests * 100) / 4);
    expect(decision.kind).toBe('subset'); // a use after the gc: the decision, and so its cache, stayed reachable while measured
  });

  it('switching to another cluster: encoded once per labels, cluster and rule; the header naming the cluster, the route cache cleared; a mutation added', () => {
    const labels = { version: 'v2' };
    const to = (cluster: string): Decision => ({ kind: 'cluster', cluster, labels }); // a new decision per request, as the rule router makes
    const first = encodeDecision(to('canary.default'), undefined, 'gray');
    expect(encodeDecision(to('canary.default'), undefined, 'gray')).toBe(first);
    const answers = [first, encodeDecision(to('other.default'), undefined, 'gray'), encodeDecision(to('canary.default')), encodeDecision(to('canary.default'), { set: [{ key: 'x-lane', value: 'a' }], remove: [] }, 'gray')].map(decodeAnswer);
    expect(answers.map(setHeaders)).toEqual([{ 'x-metaroute-cluster': 'canary.default' }, { 'x-metaroute-cluster': 'other.default' }, { 'x-metaroute-cluster': 'canary.default' }, { 'x-lane': 'a', 'x-metaroute-cluster': 'canary.default' }]);
    expect(answers.map((a) => a.request_headers?.response?.clear_route_cache)).toEqual([true, true, true, true]);
    expect(answers.map(explanation)).toEqual([{ rule: 'gray' }, { rule: 'gray' }, undefined, { rule: 'gray' }]);
    expect(answers.map(lbLabels)).toEqual([labels, labels, labels, labels]);
  });

  it('switching: a router naming a cluster per request keeps a bounded number, each answer naming its own', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const labels = { version: 'v2' }; // alive throughout, as a rule destination's are
    const requests = 20_000;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < requests; i++) {
      const answer = encodeDecision({ kind: 'cluster', cluster: `c-${i}.default`, labels }, undefined, 'gray');
      if (i % 997 === 0) expect(setHeaders(decodeAnswer(answer))).toEqual({ 'x-metaroute-cluster': `c-${i}.default` });
    }
    gc();
    expect(process.memoryUsage().heapUsed - before).toBeLessThan((requests * 100) / 4);
    expect(labels.version).toBe('v2'); // a use after the gc: the labels, and so their cache, stayed reachable while measured
  });
});
