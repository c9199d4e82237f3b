// Rule documents for the rules benches: `heavyRules(n)` is n rules over 100 services, each with
// an EXACT header match, a REGEX query match (one RE2 compile per rule) and two weighted
// destinations, plus one rule for `shop`; as JSON text (a 1,000-rule document is about 390 KB).
'use strict';

function heavyRules(n) {
  const rules = Array.from({ length: n }, (_, r) => ({
    name: `r${r}`, service: `s${r % 100}`,
    sources: [{ arguments: [{ type: 'header', key: 'x-user-role', match: { type: 'EXACT', value: `role-${r}` } }, { type: 'query', key: 'uid', match: { type: 'REGEX', value: `^${r}[0-9]+$` } }] }],
    destinations: [{ name: 'gray', labels: { version: 'gray' }, weight: 50 }, { name: 'stable', labels: { version: 'stable' }, weight: 50 }],
    stickyBy: { type: 'query', key: 'uid' },
  }));
  return JSON.stringify({ rules: [{ name: 'staff', service: 'shop', destinations: [{ name: 'gray', labels: { version: 'gray' } }] }, ...rules] });
}

module.exports = { heavyRules };
