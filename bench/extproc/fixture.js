// Builds the benchmark's world: 100 services, 10 rules each (1,000 rules), and a given
// number of instances spread over the services, as a metaroute config + rules file.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const SERVICES = 100;
const RULES_PER_SERVICE = 10;

function writeFixture(dir, totalInstances) {
  fs.mkdirSync(dir, { recursive: true });
  const perService = totalInstances / SERVICES;
  const instances = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let i = 0; i < perService; i++) {
      instances.push({
        service: `svc-${s}`,
        host: `10.${s}.${(i >> 8) & 255}.${i & 255}`,
        port: 8080,
        metadata: { version: i % 2 ? 'gray' : 'stable', color: i % 3 ? 'blue' : 'green', user: `u${i}` },
      });
    }
  }
  const rules = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let r = 0; r < RULES_PER_SERVICE; r++) {
      // The rule the benchmark request matches is the last one of its service: every request walks all ten.
      const role = r === RULES_PER_SERVICE - 1 ? 'staff' : `role-${r}`;
      rules.push({
        name: `svc-${s}-rule-${r}`,
        service: `svc-${s}`,
        sources: [{ arguments: [
          { type: 'header', key: 'x-user-role', match: { type: 'EXACT', value: role } },
          { type: 'query', key: 'uid', match: { type: 'REGEX', value: '^[0-9]+$' } },
        ] }],
        destinations: [
          { name: 'gray', labels: { version: 'gray' }, weight: 50 },
          { name: 'stable', labels: { version: 'stable' }, weight: 50 },
        ],
        stickyBy: { type: 'query', key: 'uid' },
      });
    }
  }
  // JSON is YAML: both files load through the normal YAML loaders.
  fs.writeFileSync(path.join(dir, 'rules.json'), JSON.stringify({ rules }));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    host: '127.0.0.1',
    ports: { extProc: 0, xds: 0, admin: 0 },
    dataDir: path.join(dir, 'data'),
    rulesFile: path.join(dir, 'rules.json'),
    registry: { instances: instances.map((i) => ({ ...i, ephemeral: false })) },
  }));
  return { config: path.join(dir, 'config.json'), rules: rules.length, instances: instances.length };
}

module.exports = { writeFixture, SERVICES };
