import { defaultAdminUrl, keyValues, parseArgs } from './args';

/** Flags that map one-to-one onto fields of `POST /explain`. */
const FIELDS: Readonly<Record<string, string>> = {
  service: 'service',
  cluster: 'cluster',
  authority: 'authority',
  path: 'path',
  method: 'method',
  side: 'side',
  'source-address': 'sourceAddress',
};

export async function runExplain(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['admin', ...Object.keys(FIELDS), 'header', 'claim', 'caller', 'caller-namespace', 'caller-label', 'token']);
  const token = args.flags.get('token')?.[0] ?? process.env.METAROUTE_TOKEN;
  const admin = args.flags.get('admin')?.[0] ?? defaultAdminUrl();
  const caller = args.flags.get('caller')?.[0];
  const body: Record<string, unknown> = {
    headers: keyValues(args.flags.get('header'), '--header'),
    claims: args.flags.has('claim') ? keyValues(args.flags.get('claim'), '--claim') : undefined,
    caller: caller ? { service: caller, namespace: args.flags.get('caller-namespace')?.[0], labels: keyValues(args.flags.get('caller-label'), '--caller-label') } : undefined,
  };
  for (const [flag, field] of Object.entries(FIELDS)) body[field] = args.flags.get(flag)?.[0];
  const response = await fetch(`${admin}/explain`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) {
    process.stderr.write(`explain failed (${response.status}): ${text}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`);
  return 0;
}
