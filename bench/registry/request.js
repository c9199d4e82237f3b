// The ext_proc request the registry benches send: request headers for the `big` service.
'use strict';
const path = require('node:path');
const { envoyRoot } = require(path.join(__dirname, '..', '..', 'dist', 'protos', 'root'));

/** One encoded ProcessingRequest (request headers, end of stream) for `big.default`. */
function requestMessage() {
  const T = envoyRoot().lookupType('envoy.service.ext_proc.v3.ProcessingRequest');
  const headers = { ':method': 'GET', ':path': '/api/items', ':authority': 'big.default', ':scheme': 'http', 'x-request-id': 'r' };
  return Buffer.from(T.encode(T.fromObject({ request_headers: { headers: { headers: Object.entries(headers).map(([key, v]) => ({ key, raw_value: Buffer.from(v) })) }, end_of_stream: true } })).finish());
}

module.exports = { requestMessage };
