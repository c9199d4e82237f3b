import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { Instance } from '../../src/model/instance';
import { analyzeRules } from '../../src/rules/analyze';
import { api, startApp } from '../support/app';
import { sharedCli } from '../support/transpile';

const run = promisify(execFile);

const instance = (service: string, port: number, metadata: Record<string, string>, locality = {}): Instance => ({
  id: `10.0.0.1:${port}`, service, namespace: 'default', host: '10.0.0.1', port, weight: 100, metadata, locality, healthy: true, ephemeral: false, ttlSeconds: 15,
});
const REGISTRY = [instance('shop', 1, { version: 'gray' }, { zone: 'z1' }), instance('shop', 2, { version: 'stable' }), instance('cart', 3, {})];

// Line numbers matter: the findings point at them.
const RULES = `rules:
  - name: to-ghost
    service: ghost
    destinations:
      - { name: any, labels: { version: gray } }
  - name: catch-all
    service: shop
    destinations:
      - { name: blue, labels: { version: blue } }
      - { name: zoned, labels: { version: gray, metaroute.io/zone: z1 } }
  - name: staff
    service: shop
    sources:
      - service: nobody
        arguments:
          - { type: header, key: x-role, match: { type: EXACT, value: staff } }
          - { type: header, key: x-role, match: { type: EXACT, value: admin } }
    destinations:
      - { name: elsewhere, labels: { version: gray }, cluster: nowhere.default }
metadataRoutes:
  - { service: aigc, keys: [user] }
`;

describe('metaroute analyze', () => {
  it('finds rules for services without instances, labels no instance carries, sources that never match and shadowed rules, each at its line', () => {
    const result = analyzeRules(RULES, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.findings.map((f) => `${f.line}: ${f.severity} ${f.code} ${f.path}`)).toEqual([
      '3: error no-instances rules[0].service',
      '9: error unknown-labels rules[1].destinations[0].labels',
      '11: warning shadowed rules[2]',
      '17: error never-matches rules[2].sources[0].arguments[1]',
      '19: error unknown-cluster rules[2].destinations[0].cluster',
      '21: error no-instances metadataRoutes[0].service',
    ]);
    // The reserved locality label is matched against the instance's locality: zoned is satisfiable.
    expect(result.findings.some((f) => f.path.startsWith('rules[1].destinations[1]'))).toBe(false);
  });

  it('takes callers from the request: an unregistered caller is no finding, an unregistered callee of an outbound source a warning', () => {
    const rules = `rules:
  - name: gateway-gray
    service: gateway
    direction: outbound
    sources: [{ service: shop }, { service: ghost }, { service: cart, namespace: prod }]
    destinations: [{ name: gray, labels: { version: gray } }]
  - name: from-gateway
    service: shop
    sources: [{ service: gateway }]
    destinations: [{ name: gray, labels: { version: gray } }]
`;
    const result = analyzeRules(rules, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.findings.map((f) => `${f.line}: ${f.severity} ${f.path}: ${f.message}`)).toEqual([
      '5: warning rules[0].sources[1].service: callee service ghost has no registered instances, so this source of rule gateway-gray matches nothing yet',
      '5: warning rules[0].sources[2].service: callee service prod/cart has no registered instances, so this source of rule gateway-gray matches nothing yet',
    ]);
  });

  it("checks an outbound rule's destination labels against the callees its sources name, not every service", () => {
    const rules = 'rules:\n  - name: web-out\n    service: web\n    direction: outbound\n    sources: [{ service: cart }]\n    destinations: [{ name: gray, labels: { version: gray } }]\n';
    const result = analyzeRules(rules, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.findings.map((f) => `${f.line}: ${f.severity} ${f.code} ${f.path}`)).toEqual(['6: error unknown-labels rules[0].destinations[0].labels']);
  });

  it('takes a source of any service in one namespace for what it is, not a catch-all that shadows later rules', () => {
    const rules = 'rules:\n  - name: prod-callers\n    service: shop\n    sources: [{ service: "*", namespace: prod }]\n    destinations: [{ name: s, labels: { version: stable } }]\n  - name: staff\n    service: shop\n    sources: [{ arguments: [{ type: header, key: x-role, match: { value: staff } }] }]\n    destinations: [{ name: g, labels: { version: gray } }]\n';
    expect(analyzeRules(rules, 'rules.yaml', REGISTRY)).toEqual({ ok: true, findings: [] });
  });

  it('reports no destination that is isolated on purpose, whatever its labels or cluster', () => {
    const rules = 'rules:\n  - name: staff\n    service: shop\n    destinations:\n      - { name: gray, labels: { version: gray } }\n      - { name: next, labels: { version: v9 }, isolate: true }\n      - { name: away, labels: { version: v9 }, cluster: nowhere.default, isolate: true }\n';
    expect(analyzeRules(rules, 'rules.yaml', REGISTRY)).toEqual({ ok: true, findings: [] });
  });

  it('finds a source whose tests of one label no value passes together, naming the rule, the label and both tests', () => {
    const rules = `rules:
  - name: impossible
    service: shop
    sources:
      - arguments:
          - { type: header, key: x-user, match: { type: EXISTS } }
          - { type: header, key: X-User, match: { type: EXISTS, value: false } }
      - arguments:
          - { type: query, key: age, match: { type: RANGE, value: "0~17" } }
          - { type: query, key: age, match: { type: RANGE, value: "18~" } }
      - arguments:
          - { type: claim, key: tier, match: { type: RANGE, value: "1~3" } }
          - { type: claim, key: tier, match: { type: EXACT, value: "5" } }
          - { type: claim, key: tier, match: { type: IN, value: "4, gold" } }
      - arguments:
          - { type: cookie, key: uid, match: { value: "42" } }
          - { type: cookie, key: uid, match: { type: EXISTS, value: false } }
    destinations: [{ name: gray, labels: { version: gray } }]
`;
    const result = analyzeRules(rules, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.findings.map((f) => `${f.line}: ${f.severity} ${f.code} ${f.path}: ${f.message}`)).toEqual([
      '7: error never-matches rules[0].sources[0].arguments[1]: header x-user must be present (arguments[0]) and be absent, so this source of rule impossible never matches',
      '10: error never-matches rules[0].sources[1].arguments[1]: query age must be a number from 0 to 17 (arguments[0]) and be a number from 18, so this source of rule impossible never matches',
      '13: error never-matches rules[0].sources[2].arguments[1]: claim tier must be a number from 1 to 3 (arguments[0]) and equal "5", so this source of rule impossible never matches',
      '14: error never-matches rules[0].sources[2].arguments[2]: claim tier must be a number from 1 to 3 (arguments[0]) and be one of "4", "gold", so this source of rule impossible never matches',
      '17: error never-matches rules[0].sources[3].arguments[1]: cookie uid must equal "42" (arguments[0]) and be absent, so this source of rule impossible never matches',
    ]);
  });

  it('finds tests of one label that no value passes together though every pair does, naming those that refuse', () => {
    const rules = `rules:
  - name: impossible
    service: shop
    sources:
      - arguments:
          - { type: header, key: x-env, match: { type: IN, value: "dev, test" } }
          - { type: header, key: x-env, match: { type: REGEX, value: "^[a-z]+$" } }
          - { type: header, key: x-env, match: { type: NOT_EQUALS, value: dev } }
          - { type: header, key: x-env, match: { type: NOT_IN, value: "test, prod" } }
      - arguments:
          - { type: header, key: x-env, match: { type: IN, value: "dev, test, prod" } }
          - { type: header, key: x-env, match: { type: NOT_EQUALS, value: dev } }
          - { type: header, key: x-env, match: { type: NOT_EQUALS, value: test } }
    destinations: [{ name: gray, labels: { version: gray } }]
`;
    const result = analyzeRules(rules, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    // The second source passes "prod".
    expect(result.findings.map((f) => `${f.line}: ${f.severity} ${f.code} ${f.path}: ${f.message}`)).toEqual([
      '9: error never-matches rules[0].sources[0].arguments[3]: header x-env must be one of "dev", "test" (arguments[0]), differ from "dev" (arguments[2]) and be none of "test", "prod" (arguments[3]): no value passes them all, so this source of rule impossible never matches',
    ]);
  });

  it('reports no contradiction a value passes: RANGE bounds are inclusive and read as Number() reads them, an absent label passes NOT_EQUALS', () => {
    const rules = `rules:
  - name: possible
    service: shop
    sources:
      - arguments:
          - { type: header, key: a, match: { type: RANGE, value: "0~10" } }
          - { type: header, key: a, match: { type: RANGE, value: "10~20" } }
          - { type: header, key: b, match: { value: "0x10" } }
          - { type: header, key: b, match: { type: RANGE, value: "10~20" } }
          - { type: header, key: c, match: { type: EXISTS, value: false } }
          - { type: header, key: c, match: { type: NOT_EQUALS, value: x } }
          - { type: header, key: d, match: { type: PREFIX, value: Inf } }
          - { type: header, key: d, match: { type: RANGE, value: "5~" } }
          - { type: header, key: e, match: { value: "1" } }
          - { type: query, key: e, match: { value: "2" } }
    destinations: [{ name: gray, labels: { version: gray } }]
`;
    expect(analyzeRules(rules, 'rules.yaml', REGISTRY)).toEqual({ ok: true, findings: [] });
  });

  it('finds rules shadowed by an earlier source whose tests are wider: a RANGE holding the later RANGE or value, EXISTS for any test of a present value, fewer arguments', () => {
    const rules = `rules:
  - name: adults
    service: shop
    sources:
      - arguments: [{ type: query, key: age, match: { type: RANGE, value: "18~" } }]
      - { service: gateway, arguments: [{ type: header, key: x-beta, match: { type: EXISTS } }] }
    destinations: [{ name: gray, labels: { version: gray } }]
  - name: seniors
    service: shop
    sources:
      - arguments:
          - { type: query, key: age, match: { type: RANGE, value: "65~120" } }
          - { type: header, key: x-role, match: { value: staff } }
    destinations: [{ name: stable, labels: { version: stable } }]
  - name: forty-or-beta
    service: shop
    sources:
      - arguments: [{ type: query, key: age, match: { value: "40" } }]
      - { service: gateway, arguments: [{ type: header, key: X-Beta, match: { type: RANGE, value: "1~2" } }] }
    destinations: [{ name: stable, labels: { version: stable } }]
  - name: teens
    service: shop
    sources: [{ arguments: [{ type: query, key: age, match: { type: RANGE, value: "13~19" } }] }]
    destinations: [{ name: stable, labels: { version: stable } }]
  - name: beta-from-anyone
    service: shop
    sources: [{ arguments: [{ type: header, key: x-beta, match: { value: "1" } }] }]
    destinations: [{ name: stable, labels: { version: stable } }]
`;
    const result = analyzeRules(rules, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.findings.map((f) => `${f.line}: ${f.code} ${f.path}: ${f.message}`)).toEqual([
      '8: shadowed rules[1]: rule seniors never applies: rule adults (rules[0]) comes first and matches every request it would',
      '15: shadowed rules[2]: rule forty-or-beta never applies: rule adults (rules[0]) comes first and matches every request it would',
    ]);
  });

  it('finds a rule shadowed by several earlier ones between them, and not one a source of which none covers', () => {
    const rules = `rules:
  - name: staff
    service: shop
    sources: [{ arguments: [{ type: header, key: x-role, match: { value: staff } }] }]
    destinations: [{ name: gray, labels: { version: gray } }]
  - name: adults
    service: shop
    sources: [{ arguments: [{ type: query, key: age, match: { type: RANGE, value: "18~" } }] }]
    destinations: [{ name: stable, labels: { version: stable } }]
  - name: staff-or-seniors
    service: shop
    sources:
      - arguments: [{ type: header, key: x-role, match: { value: staff } }, { type: header, key: x-beta, match: { value: "1" } }]
      - arguments: [{ type: query, key: age, match: { type: RANGE, value: "65~" } }]
    destinations: [{ name: gray, labels: { version: gray } }]
  - name: staff-or-children
    service: shop
    sources:
      - arguments: [{ type: header, key: x-role, match: { value: staff } }]
      - arguments: [{ type: query, key: age, match: { type: RANGE, value: "0~12" } }]
    destinations: [{ name: gray, labels: { version: gray } }]
`;
    const result = analyzeRules(rules, 'rules.yaml', REGISTRY);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    expect(result.findings.map((f) => `${f.line}: ${f.code} ${f.path}: ${f.message}`)).toEqual([
      '10: shadowed rules[2]: rule staff-or-seniors never applies: rules staff (rules[0]) and adults (rules[1]) come first and between them match every request it would',
    ]);
  });

  it('finds nothing in rules that fit the registry, and returns validation errors for an invalid document', () => {
    const clean = 'rules:\n  - name: staff\n    service: shop\n    sources: [{ arguments: [{ type: header, key: x-role, match: { type: EXACT, value: staff } }] }]\n    destinations: [{ name: gray, labels: { version: gray } }]\n';
    expect(analyzeRules(clean, 'rules.yaml', REGISTRY)).toEqual({ ok: true, findings: [] });
    const invalid = analyzeRules('rules:\n  - name: x\n', 'rules.yaml', REGISTRY);
    expect(invalid.ok).toBe(false);
  });

  describe('as a command against a live server', () => {
    let env: Awaited<ReturnType<typeof startApp>>;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-analyze-'));
    const cli = (...args: string[]) => run(process.execPath, [sharedCli(), 'analyze', '--admin', env.admin, ...args], { env: { PATH: process.env.PATH }, timeout: 20_000 }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout + e.stderr }),
    );

    beforeAll(async () => {
      env = await startApp();
      for (const i of REGISTRY) await api(env.admin, 'POST', '/v1/instances', { service: i.service, host: i.host, port: i.port, metadata: i.metadata, locality: i.locality, ephemeral: false });
    });
    afterAll(async () => {
      await env.app.stop();
    });

    it('prints file:line findings and exits 1 on errors', async () => {
      const file = path.join(dir, 'rules.yaml');
      fs.writeFileSync(file, RULES);
      const { code, stdout } = await cli(file);
      expect(code).toBe(1);
      expect(stdout).toContain(`${file}:3:14: error: rules[0].service: callee service default/ghost has no registered instances, so rule to-ghost never applies (no-instances)\n`);
      expect(stdout).toContain(`${file}:11:5: warning: rules[2]: rule staff never applies: rule catch-all (rules[1]) comes first and matches every request it would (shadowed)\n`);
      expect(stdout).toMatch(new RegExp(`${file}: 5 error\\(s\\), 1 warning\\(s\\) against 3 instance\\(s\\)\\n$`));
    });

    it('prints a contradiction between RANGEs with the rule, the label and both tests', async () => {
      const file = path.join(dir, 'ranges.yaml');
      fs.writeFileSync(file, 'rules:\n  - name: minors\n    service: shop\n    sources:\n      - arguments:\n          - { type: query, key: age, match: { type: RANGE, value: "~17" } }\n          - { type: query, key: age, match: { type: RANGE, value: "18~" } }\n    destinations: [{ name: gray, labels: { version: gray } }]\n');
      expect(await cli(file)).toEqual({
        code: 1,
        stdout: `${file}:7:13: error: rules[0].sources[0].arguments[1]: query age must be a number up to 17 (arguments[0]) and be a number from 18, so this source of rule minors never matches (never-matches)\n${file}: 1 error(s), 0 warning(s) against 3 instance(s)\n`,
      });
    });

    it('exits 0 for an outbound rule of a caller with no registered instances', async () => {
      const file = path.join(dir, 'outbound.yaml');
      fs.writeFileSync(file, 'rules:\n  - name: gateway-gray\n    service: gateway\n    direction: outbound\n    sources: [{ service: shop }]\n    destinations: [{ name: gray, labels: { version: gray } }]\n');
      expect(await cli(file)).toEqual({ code: 0, stdout: `${file}: 0 error(s), 0 warning(s) against 3 instance(s)\n` });
    });

    it("checks the server's live rules without FILE, exiting 0 when only warnings remain", async () => {
      await api(env.admin, 'PUT', '/v1/rules', 'rules:\n  - name: a\n    service: shop\n    destinations: [{ name: g, labels: { version: gray } }]\n  - name: b\n    service: shop\n    destinations: [{ name: s, labels: { version: stable } }]\n');
      const { code, stdout } = await cli();
      expect(code).toBe(0);
      expect(stdout).toContain('api:5:5: warning: rules[1]: rule b never applies');
      expect(stdout).toContain('api: 0 error(s), 1 warning(s) against 3 instance(s)');
    });

    it("reads the server's live rules in the format they were stored in: JSON as JSON", async () => {
      // Valid JSON that YAML refuses (a line break before a colon), so read as YAML by its origin's name (`api`) it was invalid.
      const json = '{"rules"\n: [{"name": "a", "service": "shop", "destinations": [{"name": "g", "labels": {"version": "gray"}}]},\n  {"name": "b", "service": "shop", "destinations": [{"name": "s", "labels": {"version": "stable"}}]}]}';
      const stored = await fetch(`${env.admin}/v1/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: json });
      expect(stored.status).toBe(200);
      const { code, stdout } = await cli();
      expect({ code, stdout }).toEqual({ code: 0, stdout: 'api:3:3: warning: rules[1]: rule b never applies: rule a (rules[0]) comes first and matches every request it would (shadowed)\napi: 0 error(s), 1 warning(s) against 3 instance(s)\n' });
    });

    it('exits 1 for an invalid file, with its validation errors', async () => {
      const file = path.join(dir, 'invalid.yaml');
      fs.writeFileSync(file, 'rules:\n  - name: x\n');
      const { code, stdout } = await cli(file);
      expect(code).toBe(1);
      expect(stdout).toMatch(new RegExp(`^${file}:2:\\d+: error: rules\\[0\\]`));
    });
  });
});
