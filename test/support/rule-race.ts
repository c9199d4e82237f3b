import { api, until } from './app';

export interface RaceAnswer {
  readonly text: string;
  readonly status: number;
  readonly json: any;
}

/** `count` different rule documents PUT at once, spread over the replicas' admin APIs. */
export function racingPuts(admins: readonly string[], count: number, tag: string): Promise<RaceAnswer[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const text = `rules:\n  - { name: ${tag}-${i}, service: shop, destinations: [{ name: d, labels: { writer: w${i} } }] }\n`;
    const answer = await api(admins[i % admins.length]!, 'PUT', '/v1/rules', text);
    return { text, status: answer.status, json: answer.json };
  }));
}

/**
 * Every 200 names a version of its own and the others are 409s; the live document is the one
 * with the highest version, on every replica, and no replica's history has a version twice.
 */
export async function expectNoLostUpdate(admins: readonly string[], answers: readonly RaceAnswer[]): Promise<void> {
  const stored = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status !== 200);
  expect(stored.length).toBeGreaterThan(0);
  expect(new Set(stored.map((a) => a.json.version)).size).toBe(stored.length);
  for (const a of refused) expect([a.status, a.json.error]).toEqual([409, expect.stringMatching(/^the rules changed meanwhile \(version \d+\); read them and try again$/)]);
  const last = stored.reduce((x, y) => (y.json.version > x.json.version ? y : x));
  for (const admin of admins) {
    await until(async () => (await api(admin, 'GET', '/v1/rules')).json.version === last.json.version, `${admin} to apply version ${last.json.version}`);
    expect((await api(admin, 'GET', '/v1/rules')).json.text).toBe(last.text);
    const versions = ((await api(admin, 'GET', '/v1/rules/history')).json.versions as Array<{ version: number }>).map((v) => v.version);
    expect(new Set(versions).size).toBe(versions.length);
  }
}
