import { runToEnd } from '../../src/model/slices';
import { checkRules, compileRules, compileSteps, packDocument, unpackSteps, type RuleDocument } from '../../src/rules';

/** Every kind of field a validated document can hold, defaults filled in by validation. */
const TEXT = `
rules:
  - name: staff
    service: shop
    sources:
      - service: web
        namespace: prod
        arguments:
          - { type: header, key: X-User-Role, match: { type: EXACT, value: staff } }
          - { type: method, match: { type: IN, value: "GET,HEAD" } }
          - { type: query, key: uid, match: { type: REGEX, value: "^[0-9]+$" } }
          - { type: cookie, key: beta, match: { type: EXISTS } }
    destinations:
      - { name: gray, labels: { version: gray, zone: a }, priority: 1, weight: 30 }
      - { name: blue, labels: { version: blue }, priority: 3 }
      - { name: quarantine, labels: { version: bad }, isolate: true }
      - { name: elsewhere, labels: { version: v2 }, cluster: pay.default, priority: 3 }
    failover: blue
    stickyBy: { type: header, key: X-User-Id }
  - name: out
    service: shop
    direction: outbound
    sources: [{ service: "*", arguments: [{ type: path, match: { type: PREFIX, value: /api } }] }]
    destinations: [{ name: any, labels: { version: base } }]
    failover: none
metadataRoutes:
  - { service: aigc, keys: [user], from: claim, claims: { user: sub }, mode: endpoint }
  - { service: chat, namespace: staging, keys: [user, session], failover: others }
`;

function validated(text: string): RuleDocument {
  const checked = checkRules(text, 'rules.yaml', true);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.document;
}

test('a validated document packed by the rules worker unpacks to the very same document, one rule or route per step', () => {
  const document = validated(TEXT);
  const packed = packDocument(document);
  expect(packed.rules).toHaveLength(2);
  expect(packed.metadataRoutes).toHaveLength(2);
  const steps = unpackSteps(packed);
  let yields = 0;
  for (let next = steps.next(); ; next = steps.next(), yields++) {
    if (next.done) {
      // toStrictEqual: no field may be lost or turn undefined on the way.
      expect(next.value).toStrictEqual(document);
      break;
    }
  }
  expect(yields).toBe(4);
});

test('compileSteps yields once per rule and ends with the snapshot compileRules makes', () => {
  const document = validated(TEXT);
  const steps = compileSteps(document, 7);
  let yields = 0;
  while (!steps.next().done) yields++;
  expect(yields).toBe(2);
  const stepped = runToEnd(compileSteps(document, 7));
  const whole = compileRules(document, 7);
  expect(stepped.version).toBe(7);
  expect(stepped.source).toBe(document);
  expect([...stepped.inbound.keys()]).toEqual([...whole.inbound.keys()]);
  expect([...stepped.outbound.keys()]).toEqual([...whole.outbound.keys()]);
  expect(stepped.inbound.get('default/shop')!.map((r) => r.name)).toEqual(['staff']);
  expect([...stepped.metadataRoutes.keys()]).toEqual(['default/aigc', 'staging/chat']);
});
