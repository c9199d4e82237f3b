import { SCHEMAS } from './schemas';

const json = (schema: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } });
const answer = (description: string, schema: string) => ({ description, content: json(schema) });
const error = (description: string) => answer(description, 'Error');
const text = (description: string, contentType: string) => ({ description, content: { [contentType]: { schema: { type: 'string' } } } });
/** Every admin route may answer 401/403 (auth) and 500 (a defect). */
const common = {
  '401': error('a token is required and none (or an unknown one) was given'),
  '403': error('the token may not do this'),
  '500': error('internal error'),
};
/** A route that writes to the store may also answer 503. */
const writes = {
  ...common,
  '503': error('the store did not take the write (etcd unreachable or too slow); the message says whether it may have been stored all the same. Try again: writes are idempotent'),
};
/** Every route that reads a body. */
const body = { '413': error('body over 1 MiB') };
/** A call that reads no body refuses one: its sender most likely meant another call (a batch). */
const noBody = { '400': error('a body was sent (an empty one, or Content-Length: 0, is accepted): this call takes none, and the message names the call meant; nothing was changed') };
/** A rule document's body: YAML or JSON, read as its Content-Type says (rules-media.ts). */
const ruleDocument = {
  required: true,
  description: 'application/json (or a +json type) is read as strict JSON, its errors placed where it breaks; application/yaml, application/x-yaml, text/yaml, and a body without a type (or text/plain, or curl\'s default application/x-www-form-urlencoded) as YAML',
  content: { 'application/yaml': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'string' } } },
};
const unsupportedType = { '415': error('another Content-Type: the answer\'s Accept header lists those a rule document is read in') };
const displaced = { '409': error('the address is held by another instance of the service that the token may not displace; it frees when that one deregisters or expires') };
const pathParam = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const queryParam = (name: string, description: string) => ({ name, in: 'query', required: false, description, schema: { type: 'string' } });
const instancePath = [pathParam('namespace'), pathParam('service'), pathParam('id')];

/** GET operations; each is also served for HEAD (same headers, no body). */
const GETS: Record<string, object> = {
  '/healthz': { summary: 'liveness', responses: { '200': answer('the process is up', 'Status') } },
  '/readyz': {
    summary: 'readiness: 200 "ready" only while serving; 503 with "starting", "draining", "stopping" or "no ext_proc worker" (workers: N and none serves)',
    responses: { '200': answer('serving', 'Status'), '503': answer('not serving', 'Status') },
  },
  '/metrics': { summary: 'Prometheus text exposition', responses: { '200': text('metrics', 'text/plain') } },
  '/openapi.json': { summary: 'this document', responses: { '200': { description: 'OpenAPI 3.1', content: { 'application/json': { schema: { type: 'object' } } } } } },
  '/v1/instances': {
    summary: 'registered instances',
    parameters: [queryParam('service', 'only this service'), queryParam('namespace', 'only this namespace')],
    responses: { '200': answer('instances', 'Instances'), ...common },
  },
  '/v1/rules': { summary: 'the live rule document: its text, origin and format (send it back with the Content-Type of its format)', responses: { '200': answer('rules', 'Rules'), ...common } },
  '/v1/routers': { summary: 'the router chain, in order, with each router\'s configuration', responses: { '200': answer('router names and the chain', 'Routers'), ...common } },
  '/ui/': {
    summary: 'the web console (open: it holds no data; its API calls carry the token)',
    responses: { '200': text('the console page', 'text/html'), '404': error('the console is not built: run npm run build') },
  },
  '/ui/assets/{file}': {
    summary: "the web console's scripts and styles (content-hashed names, cached as immutable)",
    parameters: [pathParam('file')],
    responses: { '200': { description: 'the file', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } } } }, '404': error('no such file, or the console is not built') },
  },
  '/v1/rules/history': { summary: 'rule documents applied on this replica since it started, newest first (at most 20)', responses: { '200': answer('versions', 'RulesHistory'), ...common } },
  '/v1/overview': {
    summary: 'services with instance counts, rules version and count, connected proxies, store and phase (the console\'s overview; computed at most once per second)',
    responses: { '200': answer('overview', 'Overview'), ...common },
  },
  '/v1/proxies': {
    summary: 'connected xDS clients (Envoys and proxyless gRPC), their subscriptions, ACKed and NACKed versions per type and convergence times (computed at most once per second)',
    responses: { '200': answer('proxies', 'Proxies'), ...common },
  },
  '/v1/services/{namespace}/{service}': {
    summary: "one service: its instance counts, the subsets its selectors cut it into (at most once per second), and one page of its instances, filtered",
    parameters: [
      pathParam('namespace'),
      pathParam('service'),
      queryParam('offset', 'instances to skip (default 0)'),
      queryParam('limit', 'page size, 1 to 500 (default 50)'),
      queryParam('filter', 'up to 16 space-separated terms, all must match: k=v (a label or locality field), healthy, unhealthy, or a substring of the id or host:port'),
    ],
    responses: { '200': answer('the service', 'ServiceDetail'), '400': error('bad offset or limit, or a filter of more than 16 terms'), '404': error('no such service'), ...common },
  },
  '/v1/services/{namespace}/{service}/split': {
    summary: "the service's routing decisions per second over the last 300 s, by destination and outcome (ext_proc decisions of this process; computed at most once per second)",
    parameters: [pathParam('namespace'), pathParam('service')],
    responses: { '200': answer('the split', 'Split'), '404': error('no such service'), ...common },
  },
  '/config_dump': {
    summary: 'configuration, rules, routers, registry and xDS state; with resource and name, one served xDS resource in Envoy\'s JSON mapping',
    parameters: [queryParam('resource', 'clusters, endpoints, listeners or routes'), queryParam('name', 'the resource name (required with resource)')],
    responses: { '200': { description: 'the dump, or one resource', content: { 'application/json': { schema: { anyOf: [{ $ref: '#/components/schemas/XdsResource' }, { $ref: '#/components/schemas/ConfigDump' }] } } } }, '400': error('bad resource or missing name'), '404': error('no such resource'), ...common },
  },
};

const head = (get: object) => ({ ...get, responses: Object.fromEntries(Object.entries((get as { responses: Record<string, { description: string }> }).responses).map(([code, r]) => [code, { description: r.description }])) });

const paths: Record<string, Record<string, object>> = Object.fromEntries(Object.entries(GETS).map(([p, get]) => [p, { get, head: head(get) }]));
paths['/v1/instances']!.post = {
  summary: 'register (or replace) an instance',
  requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'an Instance; only service, host and port are required; ttlSeconds is 1 to 86400 (expiry runs once a second); unknown fields are refused' } } } },
  responses: { '200': answer('the instance as registered', 'Instance'), '400': error('invalid instance, each field at fault named'), ...body, ...displaced, ...writes },
};
paths['/v1/instances/batch'] = {
  post: {
    summary: 'register, replace and deregister many instances at once: {register: [Instance...], deregister: [{namespace, service, id}...]}, at most 10,000 entries in at most 1 MiB',
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'register and/or deregister lists; unknown fields are refused' } } } },
    responses: {
      '200': answer('every write durable and applied', 'BatchResult'),
      '400': error('invalid batch, each entry at fault named by index and field; nothing was changed'),
      ...body,
      ...displaced,
      ...writes,
    },
  },
};
paths['/v1/heartbeats'] = {
  post: {
    summary: 'heartbeat many instances at once: {instances: [{namespace, service, id}...]}, at most 10,000',
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: 'the instances list; unknown fields are refused' } } } },
    responses: { '200': answer('which are alive, which unknown (register those again)', 'HeartbeatsResult'), '400': error('invalid entry, named by index; none was applied'), ...body, ...writes },
  },
};
paths['/v1/instances/{namespace}/{service}/{id}/heartbeat'] = {
  put: { summary: 'heartbeat an ephemeral instance; takes no body (many at once: POST /v1/heartbeats)', parameters: instancePath, responses: { '200': answer('ok', 'Status'), ...noBody, '404': error('not registered (expired or deleted): register again'), ...writes } },
};
paths['/v1/instances/{namespace}/{service}/{id}'] = {
  delete: { summary: 'deregister; takes no body (many at once: POST /v1/instances/batch)', parameters: instancePath, responses: { '200': answer('deregistered', 'Status'), ...noBody, '404': error('not registered'), ...writes } },
};
paths['/v1/rules']!.put = {
  summary: 'replace the rule document (YAML or JSON text); refused while the server watches a rules file. An empty or whitespace-only body is refused (it would delete every rule; send `rules: []` to clear them)',
  parameters: [{ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'the version this edit began from, as GET /v1/rules\'s ETag gives it ("3"): refused with 412 when the live rules are at another' }],
  requestBody: ruleDocument,
  responses: {
    '200': answer('stored and live', 'RuleUpdate'),
    '400': error('invalid rules, each error with path and line, or an empty body; the previous rules keep serving'),
    '409': error('rules come from the configured rulesFile; or another update was stored since this replica applied the last one (nothing was stored: read the rules and try again)'),
    '412': error('If-Match named another version than the live one: the rules changed since they were read (nothing was stored)'),
    ...unsupportedType,
    ...body,
    ...writes,
  },
};
paths['/v1/rules/check'] = {
  post: {
    summary: 'validate a rule document (YAML or JSON text) without storing it; an empty or whitespace-only body is an error, as PUT /v1/rules refuses it',
    requestBody: ruleDocument,
    responses: { '200': answer('ok, or each error with path, line and column', 'RulesCheck'), ...unsupportedType, ...body, ...common },
  },
};
const configIfMatch = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: "the router's etag as GET /v1/routers gave it: refused with 412 once its config changed" };
const configChanged = { '412': error("If-Match named another config than the router's current one (nothing was changed)") };
paths['/v1/routers/{name}/config'] = {
  put: {
    summary: "push a router's configuration",
    parameters: [pathParam('name'), configIfMatch],
    requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', description: "the router's configuration (docs/ROUTERS.md); unknown fields are refused" } } } },
    responses: { '200': answer('configured', 'Status'), '400': error('the router refused the config; its previous config stays'), '404': error('no such router'), ...configChanged, ...body, ...writes },
  },
  delete: {
    summary: "withdraw a router's pushed configuration: every replica goes back to its configuration file's (or the defaults); takes no body",
    parameters: [pathParam('name'), configIfMatch],
    responses: {
      '200': answer('{"status":"withdrawn"}, or {"status":"not-stored"} when no pushed config was stored (a retried DELETE): either way the router runs its configuration file\'s', 'Status'),
      ...noBody,
      '404': error('no such router'),
      ...configChanged,
      ...writes,
    },
  },
};
paths['/explain'] = {
  post: {
    summary: 'dry-run the router chain for a request',
    requestBody: {
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              cluster: { type: 'string', description: "the cluster Envoy's route chose: shop.default, or shop in the default namespace; on a sidecar's side (outbound, inbound) the name the app called, as :authority when none is given" },
              service: { type: 'string', description: 'shorthand for cluster' },
              authority: { type: 'string' },
              path: { type: 'string' },
              method: { type: 'string' },
              headers: { $ref: '#/components/schemas/Labels' },
              caller: {
                type: 'object',
                properties: {
                  service: { type: 'string' },
                  namespace: { type: 'string' },
                  labels: { $ref: '#/components/schemas/Labels' },
                  transitive: { type: 'array', items: { type: 'string' }, description: "the caller's label keys that travel the chain (x-metaroute-caller-transitive): an outbound call carries them as persistent metadata" },
                },
                additionalProperties: false,
              },
              side: { type: 'string', enum: ['edge', 'outbound', 'inbound'] },
              claims: { type: 'object' },
              sourceAddress: { type: 'string' },
            },
            additionalProperties: false,
          },
        },
      },
    },
    responses: { '200': answer('the explanation', 'Explanation'), '400': error('invalid request, each field at fault named'), '404': error('no registered service is the callee'), ...body, ...common },
  },
};

/** The admin API's OpenAPI document, served at /openapi.json. */
export function openApiDocument(version: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'metaroute admin API', version, description: 'Registration, rules, router configuration, explain, health, metrics and config dump. Errors are {error, details} (at most 200 details). Unknown JSON fields are refused with 400, and so is a key given twice in one object (but in POST /v1/heartbeats), a JSON body nested deeper than 64 levels or with more than 20,000 values outside its top-level lists or in one entry of them; bodies are at most 1 MiB (413); a call that reads none (a single heartbeat, a DELETE) refuses one with 400. A path served with another method answers 405 with Allow.' },
    components: {
      schemas: SCHEMAS,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{}, { bearer: [] }],
    paths,
  };
}
