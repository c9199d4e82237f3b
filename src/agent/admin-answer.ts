/** An admin API answer as the agent and the command line read it. */
export interface AdminAnswer {
  readonly status: number;
  readonly json: unknown;
  /** The server's `{error, details}` joined, or the start of the body. */
  readonly error: string;
}

export function adminAnswer(status: number, text: string): AdminAnswer {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const e = json as { error?: string; details?: string[] } | undefined;
  const error = e?.error ? [e.error, ...(e.details ?? [])].join('; ') : text.slice(0, 200);
  return { status, json, error };
}
