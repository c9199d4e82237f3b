import { ExtProcClient } from '../support/extproc-client';
import { api, startApp } from '../support/app';
import { DEFAULTS } from '../../src/config/config';

// The warm-up's effect on latency is measured in bench/extproc/first-load.js; this holds what it must not do.
test('the ext_proc warm-up runs its streams at the start and leaves nothing counted in the server\'s metrics', async () => {
  const env = await startApp({ extProc: { ...DEFAULTS.extProc, warmUpStreams: 300 } });
  const client = new ExtProcClient(env.extProc);
  try {
    const warmUp = env.logs.map((line) => JSON.parse(line)).filter((record) => record.event === 'extproc.warm-up');
    expect(warmUp).toEqual([expect.objectContaining({ level: 'info', streams: 300 })]);
    // Its 300 streams named an unknown service: none of them reached the server's metrics.
    expect((await api(env.admin, 'GET', '/metrics')).text).toMatch(/^metaroute_unknown_service_total 0$/m);
    await client.request({ ':method': 'GET', ':path': '/', ':authority': 'nobody-registered' });
    expect((await api(env.admin, 'GET', '/metrics')).text).toMatch(/^metaroute_unknown_service_total 1$/m);
  } finally {
    client.close();
    await env.app.stop();
  }
});

test('warmUpStreams: 0 starts without a warm-up', async () => {
  const env = await startApp({ extProc: { ...DEFAULTS.extProc, warmUpStreams: 0 } });
  try {
    expect(env.logs.some((line) => line.includes('"extproc.warm-up"'))).toBe(false);
  } finally {
    await env.app.stop();
  }
});

test('a warm-up that fails is logged as a warning and the server serves without it', async () => {
  // A host whose IPv4 loopback cannot be bound cannot be made here: the warm-up's own listener
  // (net.createServer is only called by the warm-up) is the one part replaced, failing as such a host would.
  const netModule = require('node:net') as typeof import('node:net');
  const createServer = jest.spyOn(netModule, 'createServer').mockImplementationOnce(() => {
    const failing = new netModule.Server();
    failing.listen = (() => {
      setImmediate(() => failing.emit('error', new Error('listen EADDRNOTAVAIL: address not available 127.0.0.1')));
      return failing;
    }) as typeof failing.listen;
    return failing;
  });
  let env: Awaited<ReturnType<typeof startApp>> | undefined;
  try {
    env = await startApp({ extProc: { ...DEFAULTS.extProc, warmUpStreams: 300 } });
    expect(createServer).toHaveBeenCalledTimes(1);
    const warmUp = env.logs.map((line) => JSON.parse(line)).filter((record) => record.event === 'extproc.warm-up');
    expect(warmUp).toEqual([expect.objectContaining({ level: 'warn', error: 'listen EADDRNOTAVAIL: address not available 127.0.0.1' })]);
    const client = new ExtProcClient(env.extProc);
    try {
      await client.request({ ':method': 'GET', ':path': '/', ':authority': 'nobody-registered' });
    } finally {
      client.close();
    }
    expect((await api(env.admin, 'GET', '/metrics')).text).toMatch(/^metaroute_unknown_service_total 1$/m);
  } finally {
    createServer.mockRestore();
    await env?.app.stop();
  }
});
