// Builds the benchmark's world: 100 services, 10 rules each (1,000 rules), and a given
// number of instances spread over the services, as a metaroute config + rules file.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { envoyRoot } = require('../../dist/protos/root');
const { grpcFrame } = require('../serving');

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

/** One ProcessingRequest as Envoy sends it, framed for gRPC (5-byte prefix). */
function requestFrame() {
  const T = envoyRoot().lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
  const headers = {
    ':method': 'GET', ':path': '/api/items?uid=12345&page=2', ':authority': `svc-${SERVICES - 1}.default`, ':scheme': 'http',
    'user-agent': 'bench/1.0', accept: 'application/json', 'x-request-id': '5f0c6a3e-1d2b-4c8a-9e7f-0a1b2c3d4e5f',
    'x-forwarded-proto': 'http', cookie: 'session=abc123; theme=dark', 'x-user-role': 'staff',
  };
  return grpcFrame(T.encode(T.fromObject({ request_headers: { headers: { headers: Object.entries(headers).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: true } })).finish());
}

module.exports = { writeFixture, requestFrame, SERVICES };
