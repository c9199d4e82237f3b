// `npm run bench`: every benchmark, one after the other (they would disturb each other in parallel).
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

// The machine's floor first: how far this machine stretches a millisecond, to read the rest by.
for (const bench of ['machine-floor.js', 'extproc/run.js', 'extproc/split.js', 'extproc/client-names.js', 'extproc/first-load.js', 'extproc/gc.js', 'extproc/stream-table-chain.js', 'xds/run.js', 'xds/wildcard.js', 'store/embedded.js', 'store/replication.js', 'rules/run.js', 'registry/micro.js', 'registry/memory.js', 'registry/cla.js', 'registry/run.js', 'registry/scale.js', 'registry/slices.js', 'registry/heartbeats.js', 'registry/workers.js', 'envoy/run.js', 'envoy/first-load.js']) {
  execFileSync(process.execPath, [path.join(__dirname, bench)], { stdio: 'inherit' });
}
