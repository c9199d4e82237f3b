// `metaroute serve` of one build in a child process with bench/registry/probe.js preloaded, on
// ports the OS picks, its data in `dataDir` and its log in `logPath`: the admin URL, its xDS port, `stats()`
// (the probe's figures since the last ask, then started over) and `stop()`.
'use strict';
const { fork } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { freePort, untilServingLogged } = require('./serving');

async function startProbedServer({ dist, args = [], execArgv = [], env = {}, dataDir, logPath }) {
  const ports = { ext: await freePort(), admin: await freePort(), xds: await freePort() };
  const child = fork(path.join(dist, 'cli/main.js'), ['serve', ...args], {
    execArgv: ['-r', path.join(__dirname, 'registry/probe.js'), ...execArgv],
    env: { ...process.env, METAROUTE_EXTPROC_PORT: String(ports.ext), METAROUTE_ADMIN_PORT: String(ports.admin), METAROUTE_XDS_PORT: String(ports.xds), METAROUTE_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'ignore', fs.openSync(logPath, 'w'), 'ipc'],
  });
  await untilServingLogged(child, logPath);
  const stats = () => new Promise((resolve) => {
    child.once('message', resolve);
    child.send('stats');
  });
  const stop = () => new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
  return { admin: `http://127.0.0.1:${ports.admin}`, xdsPort: ports.xds, stats, stop };
}

module.exports = { startProbedServer };
