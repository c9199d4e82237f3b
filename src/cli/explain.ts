import type { ExplainRequest } from '../admin/explain';
import { callAdmin, DEFAULT_ADMIN } from './admin-client';
import { CommandError, keyValue, text, texts, type Command, type OptionSpec } from './command';

type Request = ExplainRequest & { headers: Record<string, string>; caller: NonNullable<ExplainRequest['caller']> & { labels: Record<string, string> }; claims: Record<string, unknown> };

/** An explain option and what its value adds to the request: a new flag is one entry here. */
interface RequestOption extends OptionSpec {
  into(request: Request, value: string): void;
}

const REQUEST_OPTIONS: Record<string, RequestOption> = {
  service: { type: 'string', value: 'NAME', help: 'callee (shop, shop.default); else from the headers, as Envoy sends them', into: (r, v) => void (r.service = v) },
  header: { type: 'string', multiple: true, value: 'K=V', help: 'a request header (:authority=shop.default for the host)', into: (r, v) => void Object.assign(r.headers, Object.fromEntries([keyValue(v, '--header')])) },
  caller: { type: 'string', value: 'NAME', help: "the caller's service (a sidecar's outbound request)", into: (r, v) => void (r.caller.service = v) },
  'caller-namespace': { type: 'string', value: 'NS', help: "the caller's namespace", into: (r, v) => void (r.caller.namespace = v) },
  'caller-label': { type: 'string', multiple: true, value: 'K=V', help: "a label of the caller's instance", into: (r, v) => void Object.assign(r.caller.labels, Object.fromEntries([keyValue(v, '--caller-label')])) },
  claim: { type: 'string', multiple: true, value: 'K=V', help: 'a verified JWT claim, as jwt_authn would forward it', into: (r, v) => void Object.assign(r.claims, Object.fromEntries([keyValue(v, '--claim')])) },
};

export const explainCommand: Command = {
  name: 'explain',
  summary: 'Ask a running server why a request goes where it goes: each router with its input and output, the rule that applied, the decision.',
  options: {
    admin: { type: 'string', value: 'URL', help: `admin API address (default ${DEFAULT_ADMIN})` },
    token: { type: 'string', value: 'TOKEN', help: 'admin token (else METAROUTE_TOKEN) when the admin API requires one' },
    ...REQUEST_OPTIONS,
  },
  notes: 'exit status: 0 explained, 1 unknown service or server unreachable, 2 bad usage',
  async run(values) {
    const request: Request = { headers: {}, caller: { labels: {} }, claims: {} };
    for (const [name, option] of Object.entries(REQUEST_OPTIONS)) for (const value of texts(values, name)) option.into(request, value);
    const body: ExplainRequest = {
      service: request.service,
      headers: request.headers,
      caller: request.caller.service === undefined && request.caller.namespace === undefined && Object.keys(request.caller.labels).length === 0 ? undefined : request.caller,
      claims: Object.keys(request.claims).length ? request.claims : undefined,
    };
    const admin = text(values, 'admin') ?? DEFAULT_ADMIN;
    const answer = await callAdmin(admin, 'POST', '/explain', { body, token: text(values, 'token') ?? process.env.METAROUTE_TOKEN });
    if (answer.status !== 200) throw new CommandError(`${answer.error} (${answer.status} from ${admin})`);
    process.stdout.write(`${JSON.stringify(answer.json, null, 2)}\n`);
    return 0;
  },
};
