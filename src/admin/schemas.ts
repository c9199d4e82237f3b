import fastJson from 'fast-json-stringify';
import { MAX_LABELS } from '../model/instance';

/**
 * JSON schemas of the admin API's bodies: compiled into serializers here, and published as
 * the OpenAPI document's components (openapi.ts), so the two cannot drift apart.
 */
const labels = { type: 'object', additionalProperties: { type: 'string' } } as const;
/** How a rule document's text is read: send it back with the matching Content-Type (application/json or application/yaml). */
const ruleFormat = { type: 'string', enum: ['yaml', 'json'], description: 'how the text is read: send it back as application/yaml or application/json' } as const;

const instanceProperties = {
  id: { type: 'string' },
  service: { type: 'string' },
  namespace: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  weight: { type: 'integer' },
  metadata: { ...labels, maxProperties: MAX_LABELS },
  locality: { type: 'object', properties: { region: { type: 'string' }, zone: { type: 'string' }, campus: { type: 'string' } }, additionalProperties: false },
  healthy: { type: 'boolean' },
  ephemeral: { type: 'boolean' },
  ttlSeconds: { type: 'number' },
} as const;
const instanceRequired = ['id', 'service', 'namespace', 'host', 'port', 'weight', 'metadata', 'locality', 'healthy', 'ephemeral', 'ttlSeconds'] as const;

export const SCHEMAS = {
  Status: { type: 'object', properties: { status: { type: 'string' } }, required: ['status'], additionalProperties: false },
  Error: {
    type: 'object',
    properties: { error: { type: 'string' }, details: { type: 'array', items: { type: 'string' } } },
    required: ['error', 'details'],
    additionalProperties: false,
  },
  Labels: labels,
  Instance: { type: 'object', properties: instanceProperties, required: instanceRequired, additionalProperties: false },
  Instances: {
    type: 'object',
    properties: { instances: { type: 'array', items: { $ref: '#/components/schemas/Instance' } } },
    required: ['instances'],
    additionalProperties: false,
  },
  Rules: {
    type: 'object',
    properties: { version: { type: 'integer', minimum: 0 }, origin: { type: 'string' }, format: ruleFormat, text: { type: 'string' } },
    required: ['version', 'origin', 'format', 'text'],
    additionalProperties: false,
  },
  RuleUpdate: { type: 'object', properties: { version: { type: 'integer', minimum: 1 } }, required: ['version'], additionalProperties: false },
  Routers: {
    type: 'object',
    properties: {
      routers: { type: 'array', items: { type: 'string' } },
      chain: {
        type: 'array',
        description: 'the routers in the order they run, each with its configuration (null: never configured)',
        items: {
          type: 'object',
          properties: {
            name: { type: 'string' },
            order: { type: 'number' },
            config: { type: ['object', 'null'], additionalProperties: true },
            etag: { type: 'string', description: 'the config as an entity tag: a PUT or DELETE of the config with If-Match set to it is refused (412) once the config changed' },
          },
          required: ['name', 'order', 'config', 'etag'],
          additionalProperties: false,
        },
      },
    },
    required: ['routers', 'chain'],
    additionalProperties: false,
  },
  RulesHistory: {
    type: 'object',
    properties: {
      versions: {
        type: 'array',
        description: 'rule documents applied on this replica since it started, newest first (at most 20)',
        items: {
          type: 'object',
          properties: { version: { type: 'integer' }, origin: { type: 'string' }, at: { type: 'string', format: 'date-time' }, format: ruleFormat, text: { type: 'string' } },
          required: ['version', 'origin', 'at', 'format', 'text'],
          additionalProperties: false,
        },
      },
    },
    required: ['versions'],
    additionalProperties: false,
  },
  RulesCheck: {
    type: 'object',
    properties: {
      ok: { type: 'boolean' },
      errors: {
        type: 'array',
        items: {
          type: 'object',
          properties: { path: { type: 'string' }, line: { type: 'integer' }, column: { type: 'integer' }, message: { type: 'string' } },
          required: ['path', 'message'],
          additionalProperties: false,
        },
      },
    },
    required: ['ok', 'errors'],
    additionalProperties: false,
  },
  ServiceSummary: {
    type: 'object',
    properties: { namespace: { type: 'string' }, service: { type: 'string' }, cluster: { type: 'string' }, instances: { type: 'integer' }, healthy: { type: 'integer' } },
    required: ['namespace', 'service', 'cluster', 'instances', 'healthy'],
    additionalProperties: false,
  },
  Overview: {
    type: 'object',
    properties: {
      version: { type: 'string', description: 'metaroute build' },
      phase: { type: 'string', enum: ['starting', 'serving', 'draining', 'stopping'] },
      store: { type: 'object', properties: { kind: { type: 'string', enum: ['embedded', 'etcd'] }, where: { type: 'string' } }, required: ['kind', 'where'], additionalProperties: false },
      rules: {
        type: 'object',
        properties: {
          version: { type: 'integer' },
          origin: { type: 'string' },
          rules: { type: 'integer' },
          metadataRoutes: { type: 'integer' },
          lastReload: { type: 'object', properties: { ok: { type: 'boolean' }, at: { type: 'string', format: 'date-time' } }, required: ['ok', 'at'], additionalProperties: false },
        },
        required: ['version', 'origin', 'rules', 'metadataRoutes'],
        additionalProperties: false,
      },
      proxies: { type: 'integer', description: 'connected xDS streams (Envoys and proxyless gRPC clients)' },
      services: { type: 'array', items: { $ref: '#/components/schemas/ServiceSummary' } },
    },
    required: ['version', 'phase', 'store', 'rules', 'proxies', 'services'],
    additionalProperties: false,
  },
  ServiceDetail: {
    type: 'object',
    properties: {
      summary: { $ref: '#/components/schemas/ServiceSummary' },
      subsets: {
        type: 'array',
        description: "the subsets the service's selectors (from rules and routers' label keys) cut it into, the 1,000 largest; '' is \"lacks the key\"",
        items: {
          type: 'object',
          properties: { keys: { type: 'array', items: { type: 'string' } }, labels, instances: { type: 'integer' }, healthy: { type: 'integer' } },
          required: ['keys', 'labels', 'instances', 'healthy'],
          additionalProperties: false,
        },
      },
      subsetsOmitted: { type: 'integer', description: 'subsets beyond the 1,000 largest, not listed' },
      page: {
        type: 'object',
        properties: {
          offset: { type: 'integer' },
          limit: { type: 'integer' },
          matching: { type: 'integer', description: 'instances matching the filter' },
          instances: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                ...instanceProperties,
                lastHeartbeat: { type: ['string', 'null'], description: 'last registration or heartbeat of an ephemeral instance as this replica knows it, to 100 ms (on etcd, a replica that does not hear its heartbeats gives when it last found another one did); null for a persistent one' },
              },
              required: [...instanceRequired, 'lastHeartbeat'],
              additionalProperties: false,
            },
          },
        },
        required: ['offset', 'limit', 'matching', 'instances'],
        additionalProperties: false,
      },
    },
    required: ['summary', 'subsets', 'subsetsOmitted', 'page'],
    additionalProperties: false,
  },
  Split: {
    type: 'object',
    properties: {
      until: { type: 'integer', description: 'epoch ms of the last (still counting) second' },
      seconds: { type: 'integer' },
      series: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            destination: { type: 'string' },
            outcome: { type: 'string', enum: ['pass', 'subset', 'endpoints', 'cluster', 'reject'] },
            counts: { type: 'array', items: { type: 'integer' }, description: 'decisions per second, oldest first' },
          },
          required: ['destination', 'outcome', 'counts'],
          additionalProperties: false,
        },
      },
    },
    required: ['until', 'seconds', 'series'],
    additionalProperties: false,
  },
  Proxies: {
    type: 'object',
    properties: {
      proxies: {
        type: 'array',
        description: "each xDS stream as the config dump's xds.streams lists it: node, subscriptions, per type the last ACK (with convergedMs) and a held NACK",
        items: { type: 'object', additionalProperties: true },
      },
    },
    required: ['proxies'],
    additionalProperties: false,
  },
  Decision: {
    type: 'object',
    properties: {
      kind: { type: 'string', enum: ['pass', 'subset', 'endpoints', 'cluster', 'reject'] },
      reason: { type: 'string' },
      labels,
      endpoints: { type: 'array', items: { type: 'string' } },
      /** The index in `endpoints` of the one this dry run picked (each request picks by weight). */
      first: { type: 'integer' },
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
          properties: {
            router: { type: 'string' },
            before: { type: 'integer' },
            after: { type: 'integer' },
            labels,
            note: { type: 'string' },
            skipped: {
              type: 'array',
              description: "what the router passed over before its choice, and why: the rule router's destinations that could not serve, in higher-priority groups (a fall-through) or the chosen one's",
              items: {
                type: 'object',
                properties: { destination: { type: 'string' }, priority: { type: 'integer' }, reason: { type: 'string' } },
                required: ['destination', 'priority', 'reason'],
                additionalProperties: false,
              },
            },
          },
          required: ['router', 'before', 'after', 'labels', 'note', 'skipped'],
          additionalProperties: false,
        },
      },
      headerMutation: {
        type: 'object',
        description: "the request header changes besides the decision's own (its cluster switch header): call-chain metadata propagation, and at an edge the protected headers stripped (onSpoofed: strip)",
        properties: {
          set: { type: 'array', items: { type: 'object', properties: { key: { type: 'string' }, value: { type: 'string' } }, required: ['key', 'value'], additionalProperties: false } },
          remove: { type: 'array', items: { type: 'string' } },
        },
        required: ['set', 'remove'],
        additionalProperties: false,
      },
      endpointsIgnored: { type: 'string', description: "why Envoy will not honour the decision's endpoint list (the cluster is in subset mode: its load balancer picks any endpoint), or ''" },
      labelsIgnored: { type: 'string', description: "why Envoy will not honour the decision's labels (no subset selector has exactly their keys: its load balancer picks any endpoint), or ''" },
    },
    required: ['service', 'cluster', 'rule', 'decision', 'refused', 'steps', 'headerMutation', 'endpointsIgnored', 'labelsIgnored'],
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
  /** SCHEMAS.Instances' list alone, for an answer written a part at a time (instance-list.ts). */
  instanceList: compile({ type: 'array', items: { $ref: '#/components/schemas/Instance' } }),
  batch: compile(SCHEMAS.BatchResult),
  heartbeats: compile(SCHEMAS.HeartbeatsResult),
  rules: compile(SCHEMAS.Rules),
  ruleUpdate: compile(SCHEMAS.RuleUpdate),
  routers: compile(SCHEMAS.Routers),
  rulesHistory: compile(SCHEMAS.RulesHistory),
  rulesCheck: compile(SCHEMAS.RulesCheck),
  overview: compile(SCHEMAS.Overview),
  service: compile(SCHEMAS.ServiceDetail),
  split: compile(SCHEMAS.Split),
  proxies: compile(SCHEMAS.Proxies),
  explain: compile(SCHEMAS.Explanation),
  dump: compile(SCHEMAS.ConfigDump),
};
