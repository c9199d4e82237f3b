import fastJson from 'fast-json-stringify';

/**
 * JSON schemas of the admin API's bodies: compiled into serializers here, and published as
 * the OpenAPI document's components (openapi.ts), so the two cannot drift apart.
 */
const labels = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const SCHEMAS = {
  Status: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'], additionalProperties: false },
  Error: {
    type: 'object',
    properties: { error: { type: 'string' }, details: { type: 'array', items: { type: 'string' } } },
    required: ['error', 'details'],
    additionalProperties: false,
  },
  Labels: labels,
  Instance: {
    type: 'object',
    properties: {
      id: { type: 'string' },
      service: { type: 'string' },
      namespace: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      weight: { type: 'integer' },
      metadata: labels,
      locality: { type: 'object', properties: { region: { type: 'string' }, zone: { type: 'string' }, campus: { type: 'string' } }, additionalProperties: false },
      healthy: { type: 'boolean' },
      ephemeral: { type: 'boolean' },
      ttlSeconds: { type: 'number' },
    },
    required: ['id', 'service', 'namespace', 'host', 'port', 'weight', 'metadata', 'locality', 'healthy', 'ephemeral', 'ttlSeconds'],
    additionalProperties: false,
  },
  Instances: {
    type: 'object',
    properties: { instances: { type: 'array', items: { $ref: '#/components/schemas/Instance' } } },
    required: ['instances'],
    additionalProperties: false,
  },
  Rules: {
    type: 'object',
    properties: { version: { type: 'integer', minimum: 0 }, origin: { type: 'string' }, text: { type: 'string' } },
    required: ['version', 'origin', 'text'],
    additionalProperties: false,
  },
  RuleUpdate: { type: 'object', properties: { version: { type: 'integer', minimum: 1 } }, required: ['version'], additionalProperties: false },
  Routers: { type: 'object', properties: { routers: { type: 'array', items: { type: 'string' } } }, required: ['routers'], additionalProperties: false },
  Decision: {
    type: 'object',
    properties: {
      kind: { type: 'string', enum: ['pass', 'subset', 'endpoints', 'cluster', 'reject'] },
      reason: { type: 'string' },
      labels,
      endpoints: { type: 'array', items: { type: 'string' } },
      cluster: { type: 'string' },
      status: { type: 'integer' },
      body: { type: 'string' },
    },
    required: ['kind'],
    additionalProperties: false,
  },
  Explanation: {
    type: 'object',
    properties: {
      service: { type: 'string' },
      cluster: { type: 'string' },
      rule: { type: 'string' },
      decision: { $ref: '#/components/schemas/Decision' },
      refused: { type: 'string' },
      steps: {
        type: 'array',
        items: {
          type: 'object',
          properties: { router: { type: 'string' }, before: { type: 'integer' }, after: { type: 'integer' }, labels, note: { type: 'string' } },
          required: ['router', 'before', 'after', 'labels', 'note'],
          additionalProperties: false,
        },
      },
    },
    required: ['service', 'cluster', 'rule', 'decision', 'refused', 'steps'],
    additionalProperties: false,
  },
  InstanceRef: {
    type: 'object',
    properties: { namespace: { type: 'string' }, service: { type: 'string' }, id: { type: 'string' } },
    required: ['namespace', 'service', 'id'],
    additionalProperties: false,
  },
  BatchResult: {
    type: 'object',
    properties: { registered: { type: 'integer' }, deregistered: { type: 'integer' }, missing: { type: 'array', items: { $ref: '#/components/schemas/InstanceRef' } } },
    required: ['registered', 'deregistered', 'missing'],
    additionalProperties: false,
  },
  HeartbeatsResult: {
    type: 'object',
    properties: { alive: { type: 'integer' }, unknown: { type: 'array', items: { $ref: '#/components/schemas/InstanceRef' } } },
    required: ['alive', 'unknown'],
    additionalProperties: false,
  },
  /** The config dump is free-form by nature (config, rules source, xDS state). */
  ConfigDump: { type: 'object', additionalProperties: true },
  XdsResource: {
    type: 'object',
    properties: {
      type_url: { type: 'string' },
      name: { type: 'string' },
      version: { type: 'string' },
      resource: { type: 'object', properties: { '@type': { type: 'string' } }, required: ['@type'], additionalProperties: true },
    },
    required: ['type_url', 'name', 'version', 'resource'],
    additionalProperties: false,
  },
} as const;

/** fast-json-stringify resolves `#/components/schemas/...` references against this. */
const refs = { components: { schemas: SCHEMAS } };
const compile = (schema: object) => fastJson({ ...schema, ...refs } as unknown as Parameters<typeof fastJson>[0]);

/** Serializers compiled once from the schemas: the admin API never falls back to reflection-heavy JSON.stringify for its typed answers. */
export const serialize = {
  status: compile(SCHEMAS.Status),
  error: compile(SCHEMAS.Error),
  instance: compile(SCHEMAS.Instance),
  instances: compile(SCHEMAS.Instances),
  batch: compile(SCHEMAS.BatchResult),
  heartbeats: compile(SCHEMAS.HeartbeatsResult),
  rules: compile(SCHEMAS.Rules),
  ruleUpdate: compile(SCHEMAS.RuleUpdate),
  routers: compile(SCHEMAS.Routers),
  explain: compile(SCHEMAS.Explanation),
  dump: compile(SCHEMAS.ConfigDump),
  resource: compile(SCHEMAS.XdsResource),
};
