import fastJson from 'fast-json-stringify';

const labels = { type: 'object', additionalProperties: { type: 'string' } } as const;

const instance = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    service: { type: 'string' },
    namespace: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'integer' },
    weight: { type: 'integer' },
    metadata: labels,
    locality: labels,
    healthy: { type: 'boolean' },
    ephemeral: { type: 'boolean' },
    ttlSeconds: { type: 'number' },
  },
} as const;

const ref = { type: 'object', properties: { namespace: { type: 'string' }, service: { type: 'string' }, id: { type: 'string' } } } as const;

const decision = {
  type: 'object',
  properties: {
    kind: { type: 'string' },
    reason: { type: 'string' },
    labels,
    endpoints: { type: 'array', items: { type: 'string' } },
    cluster: { type: 'string' },
    status: { type: 'integer' },
    body: { type: 'string' },
  },
} as const;

/** Serializers compiled once from JSON schemas: the admin API never falls back to reflection-heavy JSON.stringify for its typed answers. */
export const serialize = {
  status: fastJson({ type: 'object', properties: { status: { type: 'string' } } }),
  error: fastJson({ type: 'object', properties: { error: { type: 'string' }, details: { type: 'array', items: { type: 'string' } } } }),
  instance: fastJson(instance),
  instances: fastJson({ type: 'object', properties: { instances: { type: 'array', items: instance } } }),
  batch: fastJson({
    type: 'object',
    properties: { registered: { type: 'integer' }, deregistered: { type: 'integer' }, missing: { type: 'array', items: ref } },
  }),
  heartbeats: fastJson({ type: 'object', properties: { alive: { type: 'integer' }, unknown: { type: 'array', items: ref } } }),
  rules: fastJson({ type: 'object', properties: { version: { type: 'integer' }, origin: { type: 'string' }, text: { type: 'string' } } }),
  ruleUpdate: fastJson({ type: 'object', properties: { version: { type: 'integer' } } }),
  routers: fastJson({ type: 'object', properties: { routers: { type: 'array', items: { type: 'string' } } } }),
  explain: fastJson({
    type: 'object',
    properties: {
      service: { type: 'string' },
      cluster: { type: 'string' },
      rule: { type: 'string' },
      decision,
      refused: { type: 'string' },
      steps: {
        type: 'array',
        items: {
          type: 'object',
          properties: { router: { type: 'string' }, before: { type: 'integer' }, after: { type: 'integer' }, labels, note: { type: 'string' } },
        },
      },
    },
  }),
  /** The config dump is free-form by nature (config, rules source, xDS state). */
  dump: fastJson({ type: 'object', additionalProperties: true }),
};
