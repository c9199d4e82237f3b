import { decodeProcessingRequest } from '../../src/extproc/decode';
import { ProcessingRequest, encodeHeadersRequest } from '../support/extproc-client';

describe('decodeProcessingRequest header values', () => {
  it('decodes UTF-8 in raw_value and in value', () => {
    for (const valueField of ['raw_value', 'value'] as const) {
      const request = decodeProcessingRequest(encodeHeadersRequest({ ':path': '/', 'x-name': 'Jürgen 東京' }, { valueField }), 65536);
      expect(request.headers!.names).toEqual([':path', 'x-name']);
      expect(request.headers!.values).toEqual(['/', 'Jürgen 東京']);
    }
  });

  it('counts header bytes as sent, in raw_value and in value alike', () => {
    // 'x-name' (6) + 'Jürgen 東京' (14 bytes in UTF-8, 9 UTF-16 units) = 20 bytes.
    for (const valueField of ['raw_value', 'value'] as const) {
      const encoded = encodeHeadersRequest({ 'x-name': 'Jürgen 東京' }, { valueField });
      expect({ valueField, oversized: decodeProcessingRequest(encoded, 20).headers!.oversized }).toEqual({ valueField, oversized: false });
      expect({ valueField, oversized: decodeProcessingRequest(encoded, 19).headers!.oversized }).toEqual({ valueField, oversized: true });
    }
  });

  it('replaces bytes that are not UTF-8 instead of failing the request', () => {
    const frame = Buffer.from(
      ProcessingRequest.encode(ProcessingRequest.fromObject({ request_headers: { headers: { headers: [{ key: 'x-bin', raw_value: Buffer.from([0x61, 0xff, 0x62]) }] } } })).finish(),
    );
    expect(decodeProcessingRequest(frame, 65536).headers!.values).toEqual(['a\ufffdb']);
  });
});
