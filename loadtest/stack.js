// The setup loadtest/gateway.ts (k6) and loadtest/run-h2load.js drive: `metaroute serve`
// (dist/, `npm run build` first), Envoy 1.40 on the shipped envoy/gateway.yaml (ports and the
// identity provider's JWKS substituted, nothing else), and the backends the rules expect, each
// echoing its labels in `x-instance-labels`. It registers the backends as instances and loads
// loadtest/rules.yaml through metaroute's admin API, and signs one token per user with the key
// it put into the gateway's local_jwks (per-user containers are keyed on the verified `sub`).
//
//   node loadtest/stack.js            # runs until Ctrl-C; prints what k6 needs
//
// Environment: GATEWAY_PORT (10000), USERS (50).
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const jose = require('jose');
const { parse, stringify } = require('yaml');
const { freePort, waitFor } = require('../bench/serving');
const { findEnvoy } = require('../scripts/envoy-bin');

const ROOT = path.join(__dirname, '..');
const ISSUER = 'https://idp.example.invalid';
const AUDIENCE = 'metaroute-gateway';
/** The shop instances loadtest/rules.yaml routes to (two per colour: a subset, not a single host). */
const SHOP = [
  ['shop-gray', { lane: 'gray' }],
  ['shop-vip', { pool: 'vip' }],
  ['shop-blue-1', { color: 'blue' }],
  ['shop-blue-2', { color: 'blue' }],
  ['shop-green-1', { color: 'green' }],
  ['shop-green-2', { color: 'green' }],
];


/** Maps every port_value of the shipped bootstrap (each must be mapped) and binds to loopback. */
function substitute(node, ports, jwks) {
  if (Array.isArray(node)) return node.forEach((n) => substitute(n, ports, jwks));
  if (typeof node !== 'object' || node === null) return;
  if (typeof node.port_value === 'number') {
    if (!ports.has(node.port_value)) throw new Error(`envoy/gateway.yaml uses port ${node.port_value}, which the stack does not map`);
    node.port_value = ports.get(node.port_value);
    if (node.address === '0.0.0.0') node.address = '127.0.0.1';
  }
  if (node.local_jwks) node.local_jwks = { inline_string: jwks };
  Object.values(node).forEach((n) => substitute(n, ports, jwks));
}

/** A child whose stdout and stderr go to files in `dir`; the child holds the files, this process closes its own copies. */
function spawnLogged(command, args, dir, stdoutFile, stderrFile) {
  const out = fs.openSync(path.join(dir, stdoutFile), 'w');
  const err = fs.openSync(path.join(dir, stderrFile), 'w');
  try {
    return spawn(command, args, { stdio: ['ignore', out, err] });
  } finally {
    fs.closeSync(out);
    fs.closeSync(err);
  }
}

/**
 * One HTTP backend per instance. Each counts the requests it got per `x-loadtest-flow` and
 * `x-loadtest-user` (run-h2load.js checks routing from these counts; k6 reads the labels).
 */
async function startBackend(id, labels) {
  const hits = new Map();
  const echo = Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(',');
  const server = http.createServer((req, res) => {
    const key = `${req.headers['x-loadtest-flow'] ?? '-'} ${req.headers['x-loadtest-user'] ?? '-'}`;
    hits.set(key, (hits.get(key) ?? 0) + 1);
    req.resume();
    res.writeHead(200, { 'x-instance': id, 'x-instance-labels': echo, 'content-type': 'text/plain' }).end(`${id}\n`);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { id, labels, port: server.address().port, hits, server };
}

async function admin(base, method, route, body) {
  const res = await fetch(`${base}${route}`, {
    method,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': typeof body === 'string' ? 'application/yaml' : 'application/json' },
  });
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${await res.text()}`);
}

/**
 * `metaroute` is how to run `metaroute serve` (node arguments before `serve`): the built CLI by
 * default; the test suite runs the CLI it transpiled for the run instead, having no build.
 */
async function startStack({ gatewayPort = 10000, users = 50, metaroute: cli = [path.join(ROOT, 'dist/cli/main.js')] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metaroute-loadtest-'));
  const children = [];
  const backends = [];
  let envoyAdmin;
  const stop = async () => {
    // Envoy's counters (ext_proc stream failures, message timeouts, 5xx) next to its logs.
    if (envoyAdmin) await fetch(`http://127.0.0.1:${envoyAdmin}/stats`).then((r) => r.text()).then((t) => fs.writeFileSync(path.join(dir, 'envoy-stats.txt'), t), () => {});
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(backends.map((b) => new Promise((r) => b.server.close(r))));
  };
  try {
    const ports = { extProc: await freePort(), xds: await freePort(), admin: await freePort() };
    const config = path.join(dir, 'metaroute.yaml');
    fs.writeFileSync(config, stringify({ host: '127.0.0.1', ports, dataDir: path.join(dir, 'data') }));
    const metaroute = spawnLogged(process.execPath, [...cli, 'serve', '--config', config], dir, 'metaroute.log', 'metaroute.err');
    children.push(metaroute);
    const adminUrl = `http://127.0.0.1:${ports.admin}`;
    // Up to 90 s: the test suite runs the TypeScript CLI, transpiled at start on a loaded machine.
    await waitFor('metaroute', async () => (await fetch(`${adminUrl}/healthz`)).ok, 90000);

    const { publicKey, privateKey } = await jose.generateKeyPair('RS256');
    const jwk = { ...(await jose.exportJWK(publicKey)), alg: 'RS256', use: 'sig', kid: 'loadtest' };
    const bootstrap = parse(fs.readFileSync(path.join(ROOT, 'envoy', 'gateway.yaml'), 'utf8'));
    envoyAdmin = await freePort();
    substitute(bootstrap, new Map([[10000, gatewayPort], [9901, envoyAdmin], [18080, ports.extProc], [18000, ports.xds]]), JSON.stringify({ keys: [jwk] }));
    const envoyConfig = path.join(dir, 'gateway.yaml');
    fs.writeFileSync(envoyConfig, stringify(bootstrap));
    const envoy = findEnvoy();
    execFileSync(envoy, ['--mode', 'validate', '-c', envoyConfig, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
    // The access log (one JSON line per request) goes to a file; one worker thread, as in bench/envoy.
    children.push(spawnLogged(envoy, ['-c', envoyConfig, '--concurrency', '1', '--disable-hot-restart', '--log-level', 'warn'], dir, 'envoy-access.log', 'envoy.log'));
    await waitFor('Envoy', async () => (await fetch(`http://127.0.0.1:${envoyAdmin}/ready`)).ok);

    for (const [id, labels] of SHOP) backends.push(await startBackend(id, labels));
    for (let n = 0; n < users; n++) backends.push(await startBackend(`aigc-u${n}`, { user: `u${n}` }));
    for (const b of backends) {
      const service = b.id.startsWith('aigc-') ? 'aigc' : 'shop';
      await admin(adminUrl, 'POST', '/v1/instances', { service, host: '127.0.0.1', port: b.port, metadata: b.labels, ephemeral: false });
    }
    await admin(adminUrl, 'PUT', '/v1/rules', fs.readFileSync(path.join(__dirname, 'rules.yaml'), 'utf8'));

    const tokens = {};
    for (let n = 0; n < users; n++) {
      tokens[`u${n}`] = await new jose.SignJWT({ sub: `u${n}` }).setProtectedHeader({ alg: 'RS256', kid: 'loadtest' })
        .setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('12h').sign(privateKey);
    }
    const tokensFile = path.join(dir, 'tokens.json');
    fs.writeFileSync(tokensFile, JSON.stringify(tokens));

    const url = `http://127.0.0.1:${gatewayPort}`;
    // Envoy routes per user once a user without a container gets 503 (before that, round robin
    // reaches the right container by chance) and the last user's container answers.
    const last = `u${users - 1}`;
    const nobody = await new jose.SignJWT({ sub: 'nobody' }).setProtectedHeader({ alg: 'RS256', kid: 'loadtest' })
      .setIssuer(ISSUER).setAudience(AUDIENCE).setIssuedAt().setExpirationTime('1h').sign(privateKey);
    const generate = (token) => fetch(`${url}/aigc/generate`, { headers: { authorization: `Bearer ${token}` } });
    await waitFor('Envoy to route through metaroute', async () => {
      const [absent, present] = await Promise.all([generate(nobody), generate(tokens[last])]);
      await Promise.all([absent.text(), present.text()]);
      return absent.status === 503 && present.headers.get('x-instance') === `aigc-${last}`;
    });
    return { url, adminUrl, envoyAdmin: `http://127.0.0.1:${envoyAdmin}`, tokens, tokensFile, backends, dir, stop };
  } catch (err) {
    await stop();
    throw new Error(`${err.message}\n(logs in ${dir})`);
  }
}

module.exports = { startStack, freePort };

if (require.main === module) {
  const positive = (text, fallback) => (Number(text) > 0 ? Number(text) : fallback);
  const users = positive(process.env.USERS, 50);
  startStack({ gatewayPort: positive(process.env.GATEWAY_PORT, 10000), users }).then((stack) => {
    console.log(`gateway ${stack.url} (Envoy admin ${stack.envoyAdmin}), metaroute admin ${stack.adminUrl}, logs in ${stack.dir}`);
    console.log(`k6 run -e GATEWAY_URL=${stack.url} -e USERS=${users} -e TOKENS=${stack.tokensFile} loadtest/gateway.ts`);
    const quit = () => stack.stop().then(() => process.exit(0));
    process.once('SIGINT', quit);
    process.once('SIGTERM', quit);
  }, (err) => {
    console.error(err.message);
    process.exit(1);
  });
}
