/**
 * The real, independent xDS client `@grpc/grpc-js-xds` against metaroute: LDS -> RDS -> CDS ->
 * EDS over one ADS stream, then RPCs to `xds:///echo.default` reach registered backends.
 * grpc-js-xds reads its bootstrap once per process (module-level cache), so this test is
 * alone in its file (Jest gives each file a fresh module registry).
 */
import * as grpc from '@grpc/grpc-js';
import { instance, startXds, type Dump, type Harness } from './helpers';

const WHO = '/metaroute.test.Echo/Who';
const raw = (b: Buffer): Buffer => b;

interface Backend {
  readonly name: string;
  readonly port: number;
  readonly server: grpc.Server;
}

async function backend(name: string): Promise<Backend> {
  const server = new grpc.Server();
  server.addService(
    { Who: { path: WHO, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw } },
    { Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, done: grpc.sendUnaryData<Buffer>) => done(null, Buffer.from(name)) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { name, port, server };
}

let h: Harness;
let backends: Backend[] = [];
let client: grpc.Client;

function who(): Promise<string> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(WHO, raw, raw, Buffer.alloc(0), { deadline: Date.now() + 3000 }, (err, res) => (err ? reject(err) : resolve(res!.toString()))),
  );
}

async function spread(calls: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < calls; i++) {
    const name = await who();
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Calls until `calls` consecutive answers all come from `expected`, or fails after the timeout. */
async function settlesOn(expected: string[], calls = 30, timeoutMs = 10_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await spread(calls);
    const seen = [...counts.keys()].sort();
    if (JSON.stringify(seen) === JSON.stringify([...expected].sort())) return counts;
    if (Date.now() > deadline) throw new Error(`traffic went to ${seen.join(',')}, expected ${expected.join(',')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  backends = await Promise.all(['a', 'b', 'c'].map(backend));
  h = await startXds();
  for (const b of backends.slice(0, 2)) h.registry.upsert(instance('echo', b.port, { id: b.name, metadata: { backend: b.name } }));
  process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${h.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'grpc-js-xds-test', cluster: 'test', locality: {} },
  });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@grpc/grpc-js-xds').register();
  client = new grpc.Client('xds:///echo.default', grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await h?.close();
  for (const b of backends) b.server.forceShutdown();
  delete process.env['GRPC_XDS_BOOTSTRAP_CONFIG'];
});

describe('@grpc/grpc-js-xds against metaroute', () => {
  it('resolves xds:///echo.default over ADS and spreads calls over the registered backends', async () => {
    const counts = await settlesOn(['a', 'b'], 40);
    expect(counts.get('a')).toBeGreaterThanOrEqual(10);
    expect(counts.get('b')).toBeGreaterThanOrEqual(10);

    // The client fetched all four types by name and ACKed them.
    const stream = (h.xds.configDump() as Dump).streams.find((s: Dump) => s.node?.id === 'grpc-js-xds-test');
    for (const type of ['lds', 'rds', 'cds', 'eds']) {
      expect(stream.types[type].subscriptions).toEqual(['echo.default']);
      expect(stream.types[type].last_ack).not.toBeNull();
      expect(stream.types[type].nack).toBeNull();
    }
  });

  it('moves traffic off a deregistered backend', async () => {
    h.registry.remove('default', 'echo', 'b');
    await settlesOn(['a']);
  });

  it('brings traffic to a newly registered backend', async () => {
    const c = backends[2]!;
    h.registry.upsert(instance('echo', c.port, { id: c.name, metadata: { backend: c.name } }));
    const counts = await settlesOn(['a', 'c'], 40);
    expect(counts.get('c')).toBeGreaterThanOrEqual(10);
    expect(h.logs.filter((l) => l.includes('xds.nack'))).toEqual([]);
  });
});
