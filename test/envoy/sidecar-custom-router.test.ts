import * as path from 'node:path';
import { api } from '../support/app';
import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { CallerSidecar } from '../support/sidecar';

/**
 * A custom router that fails on a sidecar's outbound call, through a real sidecar Envoy built
 * from envoy/sidecar.yaml: the request still reaches the callee, and with the caller's
 * call-chain metadata (its transitive label as persistent metadata, every spelling written),
 * as it does when the router has no opinion.
 */

const MODULE = path.join(__dirname, '..', 'routing', 'fixtures', 'slot-pick-router.js');

describeWith(ENVOY, 'a failing custom router on a sidecar through real Envoy', () => {
  let sidecar: CallerSidecar;
  const call = (headers: Record<string, string>) => sidecar.call(headers);

  beforeAll(async () => {
    sidecar = await CallerSidecar.start({ routers: [{ module: MODULE }] });
  }, 180_000);

  afterAll(async () => {
    await sidecar?.stop();
  });

  test.each(['throw', 'reject-without-status'])("a router that fails (%s) costs the request no call-chain metadata", async (act) => {
    const expected = { 'rpc-persist-env': 'dev1', 'x-sct-metadata-transitive-env': 'dev1', 'x-polaris-metadata-transitive-x': 'p1' };
    expect((await call({ 'x-act': 'none', 'rpc-persist-x': 'p1' })).received).toMatchObject(expected);
    const failed = await call({ 'x-act': act, 'rpc-persist-x': 'p1' });
    expect({ status: failed.status, received: failed.received }).toMatchObject({ status: 200, received: expected });
    const metrics = (await api(sidecar.metaroute.admin, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/^metaroute_extproc_stream_errors_total\{reason="internal"\} [1-9]/m);
  });
});
