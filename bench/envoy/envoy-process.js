// Starting an Envoy for a bench: its bootstrap validated first, written and logged under `dir`.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { stringify } = require('yaml');
const { waitFor } = require('../serving');
const { findEnvoy } = require('../../scripts/envoy-bin');

const ENVOY = findEnvoy();

/** Starts Envoy `name` (--concurrency 1) on `bootstrap`; resolves once its admin says ready. The caller stops `child`. */
async function startEnvoy(dir, name, bootstrap) {
  const config = path.join(dir, `${name}.yaml`);
  fs.writeFileSync(config, stringify(bootstrap));
  execFileSync(ENVOY, ['--mode', 'validate', '-c', config, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const log = fs.openSync(path.join(dir, `${name}.log`), 'w');
  const child = spawn(ENVOY, ['-c', config, '--concurrency', '1', '--disable-hot-restart', '--log-level', 'warn'], { stdio: ['ignore', log, log] });
  const admin = bootstrap.admin.address.socket_address.port_value;
  try {
    await waitFor(`Envoy ${name}`, async () => (await fetch(`http://127.0.0.1:${admin}/ready`)).ok);
  } catch (error) {
    child.kill();
    throw error;
  }
  return { admin, pid: child.pid, child };
}

module.exports = { ENVOY, startEnvoy };
