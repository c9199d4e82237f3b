// The ext_proc servers bench/extproc compares: the two floors (a bare node:http2 handler and
// grpc-js on metaroute's call layer with no logic, both answering the same pre-encoded bytes)
// and metaroute on a fixture. `nodeArgs` go to every server (e.g. --trace-gc-nvp); with
// `keepStdout` a server's stdout is kept, in full, for reading once it has exited.
'use strict';
const { fork, spawn } = require('node:child_process');
const path = require('node:path');
const { freePort, untilServing } = require('../serving');
const { encodeDecision } = require('../../dist/extproc/responses');

const ROOT = path.join(__dirname, '..', '..');

/** What metaroute answers the benchmark request with, which the floors answer every stream with. */
const ANSWER = encodeDecision({ kind: 'subset', labels: { version: 'gray' } });

function started(name, port, child, startedAt, keepStdout) {
  let stdout = '';
  if (keepStdout) child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    name, port, child, pid: child.pid, startedAt,
    /** Ends the server; resolves with its stdout (if kept) once it has exited and flushed it. */
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return stdout;
    },
  };
}

async function startFloors({ nodeArgs = [], keepStdout = false } = {}) {
  const floors = [];
  for (const [name, script] of [['baseline node:http2', 'baseline-server.js'], ['grpc-js call layer, no logic', 'grpc-bare-server.js']]) {
    const port = await freePort();
    const startedAt = Date.now();
    const child = fork(path.join(__dirname, script), [String(port), ANSWER.toString('base64')], { execArgv: nodeArgs, stdio: ['ignore', keepStdout ? 'pipe' : 'inherit', 'inherit', 'ipc'] });
    const serving = await new Promise((resolve) => {
      child.once('message', () => resolve(true));
      child.once('exit', () => resolve(false));
      child.once('error', () => resolve(false)); // could not be started at all
    });
    if (!serving) {
      await Promise.all(floors.map((floor) => floor.stop())); // the caller never saw these
      throw new Error(`${name} exited before serving`);
    }
    floors.push(started(name, port, child, startedAt, keepStdout));
  }
  return floors;
}

/** `port`: the ext_proc port (one the OS picks when not given); `root`: the checkout whose build runs (this one when not given). */
async function startMetaroute(fixture, { nodeArgs = [], keepStdout = false, port: wanted, root = ROOT } = {}) {
  const port = wanted ?? (await freePort());
  const startedAt = Date.now();
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'dist/cli/main.js'), 'serve', '--config', fixture.config], {
    env: { ...process.env, METAROUTE_EXTPROC_PORT: String(port) }, stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'],
  });
  await untilServing(child);
  return started(`metaroute ${fixture.rules} rules, ${fixture.instances} instances`, port, child, startedAt, keepStdout);
}

module.exports = { ANSWER, startFloors, startMetaroute };
