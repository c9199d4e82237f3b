import * as protobuf from 'protobufjs';
import { envoyRoot } from '../../src/protos/root';
import { decodeSotwRequest } from '../../src/xds/codec';
import { runToEnd, type Steps } from '../../src/model/slices';
import { decodeSotwRequestInSteps, NAMES_PER_STEP, type KnownNames } from '../../src/xds/request-names';
import { TYPE } from './helpers';

const DiscoveryRequest = envoyRoot().lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const encode = (request: object): Buffer => Buffer.from(DiscoveryRequest.encode(DiscoveryRequest.fromObject(request)).finish());
const clusters = Array.from({ length: 3000 }, (_, i) => `svc-${i}.default`);

const decodeSotwRequestReusing = (bytes: Buffer, known: Iterable<KnownNames>) => runToEnd(decodeSotwRequestInSteps(bytes, known));

/** How many times `steps` yielded before its end. */
function yields(steps: Steps<unknown>): number {
  let count = 0;
  while (!steps.next().done) count++;
  return count;
}

describe('decodeSotwRequestInSteps', () => {
  it('decodes as protobufjs does, and takes the names of an earlier request with the same name bytes instead of decoding them again', () => {
    const first = encode({ version_info: '1', resource_names: clusters, type_url: TYPE.EDS, response_nonce: 'a' });
    const decoded = decodeSotwRequestReusing(first, []);
    expect(decoded.reused).toBe(false);
    expect(decoded.request).toEqual(decodeSotwRequest(first));

    const ack = encode({ version_info: '2', resource_names: clusters, type_url: TYPE.EDS, response_nonce: 'b' });
    const again = decodeSotwRequestReusing(ack, [decoded.names!]);
    expect(again.reused).toBe(true);
    expect(again.names).toBe(decoded.names);
    expect(again.request.resource_names).toBe(decoded.names!.names); // the same array: not decoded again
    expect({ ...again.request, resource_names: [...again.request.resource_names] }).toEqual({ ...decodeSotwRequest(ack) });
    expect(again.request.version_info).toBe('2');
    expect(again.request.response_nonce).toBe('b');
  });

  it('decodes names that differ in any byte, and names another field splits, in full', () => {
    const known: KnownNames[] = [decodeSotwRequestReusing(encode({ resource_names: clusters, type_url: TYPE.EDS }), []).names!];
    const changed = [...clusters.slice(0, -1), 'svc-2999.defaulT'];
    const other = decodeSotwRequestReusing(encode({ resource_names: changed, type_url: TYPE.EDS }), known);
    expect(other.reused).toBe(false);
    expect(other.request.resource_names).toEqual(changed);

    // Fields in another order than Envoy writes them: names before and after the type URL.
    const w = protobuf.Writer.create();
    w.uint32((3 << 3) | 2).string(clusters[0]!);
    w.uint32((4 << 3) | 2).string(TYPE.EDS);
    for (const name of clusters.slice(1)) w.uint32((3 << 3) | 2).string(name);
    const split = decodeSotwRequestReusing(Buffer.from(w.finish()), known);
    expect(split.reused).toBe(false);
    expect(split.names).toBeUndefined();
    expect(split.request.resource_names).toEqual(clusters);
    expect(split.request.type_url).toBe(TYPE.EDS);
  });

  it('decodes new names NAMES_PER_STEP a step; names it knows, and small requests, in one', () => {
    const many = Array.from({ length: NAMES_PER_STEP * 3 + 1 }, (_, i) => `svc-${i}.default`);
    const bytes = encode({ resource_names: many, type_url: TYPE.EDS });
    expect(yields(decodeSotwRequestInSteps(bytes, []))).toBe(3);
    const known = [decodeSotwRequestReusing(bytes, []).names!];
    expect(known[0]!.names).toEqual(many);
    expect(yields(decodeSotwRequestInSteps(bytes, known))).toBe(0);
    expect(yields(decodeSotwRequestInSteps(encode({ resource_names: clusters.slice(0, NAMES_PER_STEP - 1), type_url: TYPE.EDS }), []))).toBe(0);
  });

  it('a request without names (a wildcard CDS) has none to know', () => {
    const wildcard = decodeSotwRequestReusing(encode({ type_url: TYPE.CDS, version_info: '3' }), []);
    expect(wildcard.names).toBeUndefined();
    expect(wildcard.request.resource_names).toEqual([]);
    expect(wildcard.request.version_info).toBe('3');
  });
});
