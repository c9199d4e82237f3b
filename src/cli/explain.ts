import type { ExplainRequest } from '../admin/explain-types';
import { parseLabelList } from '../extproc/caller';
import type { Labels } from '../model/instance';
import { ADMIN_HELP, ADMIN_TLS_OPTIONS, adminTls, callAdmin, defaultAdminUrl } from './admin-client';
import { addKeyValue, CommandError, keyValue, text, texts, UsageError, type Command, type OptionSpec } from './command';

type Request = ExplainRequest & { headers: Record<string, string>; caller: NonNullable<ExplainRequest['caller']> & { labels: Record<string, string>; transitive: string[] }; claims: Record<string, string> };

/** An explain option and what its value adds to the request: a new flag is one entry here. */
interface RequestOption extends OptionSpec {
  into(request: Request, value: string): void;
}

const REQUEST_OPTIONS: Record<string, RequestOption> = {
  cluster: { type: 'string', value: 'NAME', help: "the cluster Envoy's route chose (shop.default, or shop in the default namespace); with --side outbound or inbound, the name the app called (the :authority)", into: (r, v) => void (r.cluster = v) },
  service: { type: 'string', value: 'NAME', help: 'shorthand for --cluster', into: (r, v) => void (r.service = v) },
  authority: { type: 'string', value: 'HOST', help: 'the :authority header', into: (r, v) => void (r.authority = v) },
  path: { type: 'string', value: 'PATH', help: 'the :path header (default /)', into: (r, v) => void (r.path = v) },
  method: { type: 'string', value: 'METHOD', help: 'the :method header (default GET)', into: (r, v) => void (r.method = v) },
  header: { type: 'string', multiple: true, value: 'K=V', help: 'a request header (once per name)', into: (r, v) => addKeyValue(r.headers, lowerCaseName(keyValue(v, '--header')), '--header') },
  side: { type: 'string', value: 'SIDE', help: 'which ext_proc call: edge (a gateway, the default), outbound or inbound', into: (r, v) => void (r.side = side(v)) },
  'source-address': { type: 'string', value: 'IP', help: 'the client address Envoy reports (caller_ip sources)', into: (r, v) => void (r.sourceAddress = v) },
  caller: { type: 'string', value: 'NAME', help: "the caller's service, as its Envoy's x-metaroute-caller-service names it (a sidecar's; envoy/gateway.yaml's is gateway)", into: (r, v) => void (r.caller.service = v) },
  'caller-namespace': { type: 'string', value: 'NS', help: "the caller's namespace", into: (r, v) => void (r.caller.namespace = v) },
  'caller-label': { type: 'string', multiple: true, value: 'K=V', help: "a label of the caller's instance, or several as x-metaroute-caller-labels writes them (K=V,K=V)", into: (r, v) => Object.entries(callerLabels(v)).forEach((pair) => addKeyValue(r.caller.labels, pair, '--caller-label')) },
  'caller-transitive': { type: 'string', multiple: true, value: 'KEY', help: "a label key of the caller's that travels the chain (its outbound calls carry it as persistent metadata); a comma list is split, as the live path splits x-metaroute-caller-transitive", into: (r, v) => void r.caller.transitive.push(v) },
  claim: { type: 'string', multiple: true, value: 'K=V', help: 'a verified JWT claim, as jwt_authn would forward it', into: (r, v) => addKeyValue(r.claims, keyValue(v, '--claim'), '--claim') },
};

/**
 * One --caller-label value read by the live path's own parser of x-metaroute-caller-labels
 * (keys and values trimmed, a key given twice refused), so explain takes the labels a sidecar's
 * stream would carry and refuses what would fail its streams. A value with no pair at all
 * (`--caller-label ''`, `--caller-label "$UNSET"`) is refused too: a header without labels is
 * the stream's no labels, but a flag given means a label was meant.
 */
function callerLabels(text: string): Labels {
  let labels: Labels;
  try {
    labels = parseLabelList(text);
  } catch (error) {
    throw new UsageError(`--caller-label: ${(error as Error).message}`);
  }
  if (Object.keys(labels).length === 0) throw new UsageError(`--caller-label must be key=value (or several, K=V,K=V), got ${JSON.stringify(text)}`);
  return labels;
}

/** Header names are case-insensitive (the server lower-cases them): `X-User` and `x-user` are one header given twice. */
const lowerCaseName = ([name, value]: [string, string]): [string, string] => [name.toLowerCase(), value];

const SIDES = ['edge', 'outbound', 'inbound'] as const;

function side(value: string): Request['side'] {
  if (!(SIDES as readonly string[]).includes(value)) throw new UsageError(`--side must be ${SIDES.join(', ')}, got ${JSON.stringify(value)}`);
  return value as Request['side'];
}

export const explainCommand: Command = {
  name: 'explain',
  summary: 'Ask a running server why a request goes where it goes: each router with its input and output, the rule that applied, the decision.',
  options: {
    admin: { type: 'string', value: 'URL', help: ADMIN_HELP },
    token: { type: 'string', value: 'TOKEN', help: 'admin token (else METAROUTE_TOKEN) when the admin API requires one' },
    ...ADMIN_TLS_OPTIONS,
    ...REQUEST_OPTIONS,
  },
  notes: 'exit status: 0 explained, 1 unknown service or server unreachable, 2 bad usage',
  async run(values) {
    const tls = adminTls(values);
    const request: Request = { headers: {}, caller: { labels: {}, transitive: [] }, claims: {} };
    if (text(values, 'cluster') !== undefined && text(values, 'service') !== undefined) throw new UsageError('--cluster and --service name the same thing: give one');
    for (const [name, option] of Object.entries(REQUEST_OPTIONS)) for (const value of texts(values, name)) option.into(request, value);
    const { transitive, ...caller } = request.caller;
    // Without a caller service the live path reads no caller, so these would change nothing.
    if (caller.service === undefined && (caller.namespace !== undefined || Object.keys(caller.labels).length > 0 || transitive.length > 0)) throw new UsageError('--caller-namespace, --caller-label and --caller-transitive describe the caller: give --caller too');
    const body: ExplainRequest = {
      ...request,
      caller: caller.service === undefined ? undefined : { ...caller, ...(transitive.length > 0 && { transitive }) },
      claims: Object.keys(request.claims).length ? request.claims : undefined,
    };
    const admin = text(values, 'admin') ?? defaultAdminUrl();
    const answer = await callAdmin(admin, 'POST', '/explain', { body, token: text(values, 'token') ?? process.env.METAROUTE_TOKEN, tls });
    if (answer.status !== 200) throw new CommandError(`${answer.error} (${answer.status} from ${admin})`);
    process.stdout.write(`${JSON.stringify(answer.json, null, 2)}\n`);
    return 0;
  },
};
