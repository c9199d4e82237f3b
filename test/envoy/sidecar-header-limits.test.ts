import { api } from '../support/app';
import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { CallerSidecar } from '../support/sidecar';

/**
 * Whole-chain metadata a client sends, through a real sidecar Envoy built from
 * envoy/sidecar.yaml (outbound ext_proc fails open): the copies metaroute writes in the other
 * spellings must be a mutation Envoy takes. Envoy 1.40 answers 500, fail-open or not, to a set
 * header with an invalid name or value, or one taking the request past 100 headers or 60 KiB;
 * and a stream metaroute fails is skipped by a fail-open sidecar, propagation and all.
 */

const SCT = 'sct-custom-metadata';
const sct = (entries: Record<string, unknown>): string => encodeURIComponent(JSON.stringify(entries));

describeWith(ENVOY, 'whole-chain metadata within what Envoy takes, through a real sidecar', () => {
  let sidecar: CallerSidecar;
  const call = (headers: Record<string, string>) => sidecar.call(headers);

  beforeAll(async () => {
    // Room for a 20 KB SCT-CUSTOM-METADATA (8 KiB by default), still under Envoy's 60 KiB.
    sidecar = await CallerSidecar.start({ extProc: { maxMetadataBytes: 32768 } }, { maxHeaderSize: 64 * 1024 });
  }, 180_000);

  afterAll(async () => {
    await sidecar?.stop();
  });

  test('SCT-CUSTOM-METADATA entries no header can carry reach the callee inside it; the valid ones in every spelling', async () => {
    const entries = { lane: 'blue', crlf: 'a\r\nb', ctl: 'a\u0001b', 'a b': 'x', é: 'x' };
    const { status, received } = await call({ [SCT]: sct(entries) });
    expect(status).toBe(200);
    expect(received).toMatchObject({ 'rpc-persist-lane': 'blue', 'x-polaris-metadata-transitive-lane': 'blue', 'rpc-persist-env': 'dev1' });
    expect(JSON.parse(decodeURIComponent(received[SCT]!))).toEqual({ ...entries, env: 'dev1' });
  });

  test('34 whole-chain keys (100 headers once copied) reach the callee as sent', async () => {
    const many = Object.fromEntries(Array.from({ length: 34 }, (_, i) => [`rpc-persist-k${i}`, 'v']));
    const { status, received } = await call(many);
    expect(status).toBe(200);
    expect(received).toMatchObject(many);
    expect(received['x-sct-metadata-transitive-k0']).toBeUndefined(); // no copies: they would have failed the request
  });

  test('a value JSON and URL encoding would take past 60 KiB reaches the callee as sent', async () => {
    const { status, received } = await call({ 'rpc-persist-q': '"'.repeat(7000) });
    expect(status).toBe(200);
    expect(received['rpc-persist-q']).toBe('"'.repeat(7000));
  });

  test('SCT-CUSTOM-METADATA nested 10,000 deep fails no stream: the caller’s lane still travels', async () => {
    const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`; // JSON.parse reads it; JSON.stringify overflows the stack
    const { status, received } = await call({ [SCT]: deep });
    expect(status).toBe(200);
    expect(received).toMatchObject({ 'rpc-persist-env': 'dev1', [SCT]: deep });
    const metrics = (await api(sidecar.metaroute.admin, 'GET', '/metrics')).text;
    expect(metrics).not.toMatch(/^metaroute_extproc_stream_errors_total\{reason="internal"\} [1-9]/m);
  });
});
