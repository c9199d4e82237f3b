import { EventEmitter } from 'node:events';
import * as protobuf from 'protobufjs';
import { envoyRoot } from '../../src/protos/root';
import { ResourceCache } from '../../src/xds/cache';
import { SotwStream } from '../../src/xds/sotw';
import type { StreamContext, XdsCall } from '../../src/xds/stream';
import { CDS } from '../../src/xds/types';
import { TYPE } from './helpers';

const DiscoveryRequest = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest');

interface Written {
  readonly nonce: string;
  readonly names: string[];
}

/**
 * A SotwStream on a call driven by hand: requests are emitted as 'data', responses read back from
 * `write`. Not over gRPC, so that the order in which two sliced jobs take their turns is the
 * test's (over a real connection it is the machine's); ads-sotw.test.ts covers real gRPC.
 */
function harness(cache: ResourceCache): { stream: SotwStream; send: (request: object) => void; written: Written[]; call: EventEmitter } {
  const call = new EventEmitter() as EventEmitter & Record<string, unknown>;
  const written: Written[] = [];
  call.getPeer = () => 'test';
  call.destroyed = false;
  call.writableEnded = false;
  call.end = () => undefined;
  call.write = (chunks: Uint8Array[], done?: () => void) => {
    // Resources are put as their names' bytes: field 2 of the response holds them as they are.
    const reader = protobuf.Reader.create(Buffer.concat(chunks));
    const names: string[] = [];
    let nonce = '';
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 2) names.push(Buffer.from(reader.bytes()).toString());
      else if (tag >>> 3 === 5) nonce = reader.string();
      else reader.skipType(tag & 7);
    }
    written.push({ nonce, names: names.sort() });
    done?.();
    return true;
  };
  const nothing = (): void => undefined;
  const log = { warn: nothing, info: nothing, error: nothing, debug: nothing };
  const ctx = { cache, pushes: { inc: nothing }, nacks: { inc: nothing }, convergence: { observe: nothing }, log, onAnswer: nothing } as unknown as StreamContext;
  const stream = new SotwStream(1, call as unknown as XdsCall, ctx, undefined, nothing);
  const send = (request: object): void => {
    call.emit('data', Buffer.from(DiscoveryRequest.encode(DiscoveryRequest.fromObject(request)).finish()));
  };
  return { stream, send, written, call };
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 20_000; i++) {
    if (check()) return;
    await turns(1);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('SotW responses and requests handled in slices', () => {
  it('answers a request by name that ended the wildcard while its body was prepared with the named clusters only', async () => {
    const cache = new ResourceCache();
    for (let i = 0; i < 100; i++) cache.put(CDS, `c${i}.default`, Buffer.from(`c${i}.default`));
    const { send, written } = harness(cache);
    send({ type_url: TYPE.CDS, resource_names: [] }); // legacy wildcard: every bucket new, the body made in slices
    send({ type_url: TYPE.CDS, resource_names: ['c1.default'] }); // before that response goes out: names end the wildcard
    await until(() => written.length > 0, 'a response');
    await turns(20);
    expect(written.map((w) => w.names)).toEqual([['c1.default']]);
  });

  it('sends no response from a subscription half changed by a request handled in slices', async () => {
    const cache = new ResourceCache();
    const A = Array.from({ length: 20_000 }, (_, i) => `a${i}.default`);
    const B = Array.from({ length: 20_000 }, (_, i) => `b${i}.default`);
    for (const name of [...A, ...B]) cache.put(CDS, name, Buffer.from(`${name}`));
    const { stream, send, written } = harness(cache);
    // Each slice one step (a clock a millisecond on per reading): sliced jobs take turns step by step.
    let clock = 0;
    const now = jest.spyOn(performance, 'now').mockImplementation(() => ++clock);
    try {
      send({ type_url: TYPE.CDS, resource_names: A });
      await until(() => written.length === 1, 'the response to A');
      expect(written[0]!.names).toHaveLength(A.length);
      send({ type_url: TYPE.CDS, resource_names: A, response_nonce: written[0]!.nonce, version_info: '1' }); // ACK
      await turns(5);
      // Half of A changes: the response's diff over 10,000 names runs in slices...
      const changed = A.slice(0, 10_000);
      for (const name of changed) cache.put(CDS, name, Buffer.from(`${name}`.replace('.default', '.default ')));
      stream.push(new Map([[CDS, new Set(changed)]]));
      expect(stream.typeState(CDS)!.computing).toBe(true);
      // ...when the client asks for B instead, a request handled in slices beside it.
      send({ type_url: TYPE.CDS, resource_names: B, response_nonce: written[0]!.nonce, version_info: '1' });
      await until(() => written.length >= 2 && !stream.typeState(CDS)!.computing, 'a second response');
      await turns(50);
      // Every response carries the whole of a subscription the client asked for, A or B, not a mix.
      for (const w of written.slice(1)) {
        const bare = w.names.map((n) => n.trim());
        expect([bare.length, bare.every((n) => n.startsWith('a')) || bare.every((n) => n.startsWith('b'))]).toEqual([20_000, true]);
      }
    } finally {
      now.mockRestore();
    }
  });
  it('ends the stream alone when a response computed in slices fails to go out', async () => {
    const cache = new ResourceCache();
    for (let i = 0; i < 100; i++) cache.put(CDS, `c${i}.default`, Buffer.from(`c${i}.default`));
    const { send, call, written } = harness(cache);
    const ended: unknown[] = [];
    call.on('error', (error: unknown) => ended.push(error));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const sending = jest.spyOn(SotwStream.prototype as unknown as { send(): void }, 'send').mockImplementation(() => {
      throw new Error('a send that fails');
    });
    try {
      send({ type_url: TYPE.CDS, resource_names: [] }); // every bucket new: the body made in slices
      await until(() => ended.length > 0, 'the stream to end');
      await turns(5);
      expect([ended, unhandled, written]).toEqual([[expect.objectContaining({ code: 13 })], [], []]);
    } finally {
      sending.mockRestore();
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('lets go of a body prepared for a response that then had nothing to send', async () => {
    const cache = new ResourceCache();
    for (let i = 0; i < 100; i++) cache.put(CDS, `c${i}.default`, Buffer.from(`c${i}.default`));
    const { stream, send, written } = harness(cache);
    send({ type_url: TYPE.CDS, resource_names: [] });
    await until(() => written.length === 1, 'the wildcard response');
    send({ type_url: TYPE.CDS, resource_names: [], response_nonce: written[0]!.nonce, version_info: '1' });
    // Rebuilt with the same bytes: every bucket re-encoded (the body prepared in slices), no version the client lacks.
    for (let i = 0; i < 100; i++) {
      cache.putLazy(CDS, `c${i}.default`, function* () {
        return Buffer.from(`c${i}.default`);
      });
    }
    stream.push(new Map([[CDS, new Set(Array.from({ length: 100 }, (_, i) => `c${i}.default`))]]));
    await until(() => !stream.typeState(CDS)!.computing, 'the response computed');
    await turns(20);
    expect([written.length, (stream as unknown as { preparedBodies: Map<unknown, unknown> }).preparedBodies.size]).toEqual([1, 0]);
  });
});
