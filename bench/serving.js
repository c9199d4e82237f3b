'use strict';
// Shared by the benches and loadtest/stack.js: the servers they start, and waiting for them.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');

/** A port the OS picks on loopback. */
function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Retries `attempt` every 100 ms until it returns something truthy (bounded). */
async function waitFor(what, attempt, ms = 60000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await attempt().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Resolves once a spawned `metaroute serve` has logged that it serves (its stderr piped); rejects
 * if it exits first. Its stderr is read to the end, keeping only the start-up log: metaroute logs
 * synchronously, so a pipe left full (or read slowly, by rescanning a growing log) would stall
 * the server's event loop and show up in the bench as the server's own delay.
 */
function untilServing(child) {
  return new Promise((resolve, reject) => {
    let log = '';
    let serving = false;
    child.stderr.on('data', (d) => {
      if (serving) return;
      log += d;
      if (log.includes('metaroute serving')) {
        serving = true;
        resolve();
      }
    });
    child.on('exit', (code) => reject(new Error(`metaroute exited ${code}:\n${log}`)));
  });
}

/**
 * For benches that measure the server's event loop: its stderr goes to `logPath` (a file the
 * kernel takes at once), not to a pipe the busy bench process reads late (metaroute logs
 * synchronously: 10,000 expiry lines through a full pipe stall it). Resolves once the file
 * says it serves; rejects if it exits first.
 */
function untilServingLogged(child, logPath) {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (fs.readFileSync(logPath, 'utf8').includes('metaroute serving')) {
        clearInterval(timer);
        resolve();
      }
    }, 100);
    child.on('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`metaroute exited ${code}:\n${fs.readFileSync(logPath, 'utf8').slice(-4000)}`));
    });
  });
}

/** The etcd binary: ETCD_BIN, else `etcd` on PATH; undefined when there is none. */
const ETCD_BIN = process.env.ETCD_BIN || spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout?.trim() || undefined;

/** A one-member etcd on loopback ports the OS picks, its data under `dir`; resolves once healthy with its endpoint and process. */
async function startEtcd(dir) {
  const [client, peer] = [await freePort(), await freePort()];
  const proc = spawn(ETCD_BIN, ['--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`, '--initial-cluster', `default=http://127.0.0.1:${peer}`,
    '--logger', 'zap', '--log-level', 'error'], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${client}`;
  const failed = new Promise((_, reject) => proc.once('error', (error) => reject(new Error(`etcd (${ETCD_BIN}) did not start: ${error.message}`))));
  const healthy = waitFor('etcd', async () => (await (await fetch(`${endpoint}/health`)).json()).health === 'true', 15000);
  await Promise.race([healthy, failed]).catch((error) => {
    proc.kill('SIGKILL');
    throw error;
  });
  return { endpoint, process: proc };
}

/** A gRPC message as its frame on the wire (uncompressed, 4-byte length): an h2load request body. */
function grpcFrame(message) {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  Buffer.from(message).copy(frame, 5);
  return frame;
}

/** `NAME=value NAME2=value2` (an env variable of the benches) as an object; `what` names it in errors. */
function envPairs(text, what) {
  return Object.fromEntries((text ?? '').split(' ').filter(Boolean).map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`${what}: ${pair} is not NAME=value`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }));
}

module.exports = { ETCD_BIN, envPairs, freePort, grpcFrame, startEtcd, untilServing, untilServingLogged, waitFor };
