import { keyValues, parseArgs } from './args';

export async function runExplain(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['admin', 'service', 'header', 'caller', 'caller-namespace', 'caller-label', 'token']);
  const token = args.flags.get('token')?.[0] ?? process.env.METAROUTE_TOKEN;
  const admin = args.flags.get('admin')?.[0] ?? 'http://127.0.0.1:18090';
  const caller = args.flags.get('caller')?.[0];
  const body = {
    service: args.flags.get('service')?.[0],
    headers: keyValues(args.flags.get('header'), '--header'),
    caller: caller ? { service: caller, namespace: args.flags.get('caller-namespace')?.[0], labels: keyValues(args.flags.get('caller-label'), '--caller-label') } : undefined,
  };
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
