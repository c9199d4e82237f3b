// Where the Envoy binary is for plain-JS tools (bench/envoy, loadtest/): ENVOY_BIN, else the
// binary `npm run envoy:install` put into .venv-envoy (test/support/envoy.ts does the same for tests).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function findEnvoy() {
  if (process.env.ENVOY_BIN) return process.env.ENVOY_BIN;
  const lib = path.join(__dirname, '..', '.venv-envoy', 'lib');
  for (const python of fs.existsSync(lib) ? fs.readdirSync(lib) : []) {
    const candidate = path.join(lib, python, 'site-packages', 'envoy', '_bin', 'envoy');
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('no Envoy: run `npm run envoy:install` (or set ENVOY_BIN)');
}

module.exports = { findEnvoy };
