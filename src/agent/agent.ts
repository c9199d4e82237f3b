import { adminAnswer, type AdminAnswer } from './admin-answer';
import { AdminCallError, adminRequest, type AdminTls } from './admin-request';
import type { AgentLog } from './agent-log';
import { BACKOFF_MAX_MS, backoffMs } from './backoff';
/** What the agent registers: an ephemeral instance of the admin API's POST /v1/instances. */
export interface Registration {
  readonly service: string;
  readonly namespace: string;
  readonly host: string;
  readonly port: number;
  /** Defaults to `host:port` on the server. */
  readonly id?: string;
  readonly weight?: number;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface AgentOptions {
  /** Admin base URL, e.g. http://metaroute:18090. */
  readonly admin: string;
  readonly registration: Registration;
  /** The server drops the instance this long after the last heartbeat; heartbeats go every ttl/3. */
  readonly ttlSeconds: number;
  readonly token?: string;
  /** For an https:// admin URL: the client certificate and CA (admin.tls). */
  readonly tls?: AdminTls;
  readonly log: AgentLog;
  /** Tries of the first registration before start() gives up (default 8, under 20 s with backoff). */
  readonly registerAttempts?: number;
}

/** The admin API answered, and not with success. */
export class AgentHttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * Keeps one instance registered while it runs: registers (ephemeral, with a TTL), heartbeats
 * every ttl/3, registers again when a heartbeat finds the instance expired, and
 * deregisters on stop(). Connection errors and 5xx answers are retried with capped,
 * jittered exponential backoff: a bounded number of times for the first registration (so
 * a misconfigured agent fails visibly), without limit afterwards (so an admin restart
 * does not orphan running instances).
 */
export class Agent {
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private id: string | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: AgentOptions) {
    this.intervalMs = Math.round((options.ttlSeconds * 1000) / 3);
    // A request must not outlive the heartbeat it serves, yet a 333 ms interval still deserves a second.
    this.timeoutMs = Math.min(BACKOFF_MAX_MS, Math.max(1000, this.intervalMs));
  }

  /** The registered instance's id (the server's, when the registration left it to default). */
  get instanceId(): string | undefined {
    return this.id;
  }

  /** Resolves once registered, then heartbeats in the background; rejects when registration is refused or keeps failing. */
  async start(): Promise<void> {
    this.loop = this.registerWithRetry();
    await this.loop;
    this.loop = this.heartbeatLoop();
  }

  /** Stops heartbeating, waits for an in-flight call, then deregisters. Never rejects. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    // Waiting keeps a late registration from landing after the DELETE.
    await this.loop?.catch(() => undefined);
    if (!this.id) return;
    const what = this.instancePath();
    try {
      const answer = await this.call('DELETE', what);
      const r = this.options.registration;
      if (answer.status === 200 || answer.status === 404) this.options.log('agent.deregistered', `deregistered ${r.namespace}/${r.service}/${this.id}`);
      else this.options.log('agent.deregistration.failed', `deregistration refused (${answer.status}): ${answer.error}`);
    } catch (error) {
      this.options.log('agent.deregistration.failed', `deregistration at ${this.options.admin} failed (${describe(error)}); the server drops the instance after its ttl`);
    }
  }

  private async registerWithRetry(): Promise<void> {
    const attempts = this.options.registerAttempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.register();
        const r = this.options.registration;
        this.options.log('agent.registered', `registered ${r.namespace}/${r.service}/${this.id} at ${r.host}:${r.port} (ttl ${this.options.ttlSeconds}s, heartbeat every ${this.intervalMs} ms)`);
        return;
      } catch (error) {
        if (!retryable(error) || attempt >= attempts) throw error;
        const delay = backoffMs(attempt, this.intervalMs);
        this.options.log('agent.registration.retry', `registration at ${this.options.admin} failed (${describe(error)}); attempt ${attempt}/${attempts}, retrying in ${delay} ms`);
        await this.sleep(delay);
        if (this.stopped) throw new Error('stopped before the instance was registered');
      }
    }
  }

  private async heartbeatLoop(): Promise<void> {
    let failures = 0;
    let delay = this.intervalMs;
    while (!this.stopped) {
      await this.sleep(delay);
      if (this.stopped) return;
      try {
        const answer = await this.call('PUT', `${this.instancePath()}/heartbeat`);
        if (answer.status === 404) {
          this.options.log('agent.instance.unknown', 'the server no longer knows this instance (expired or deleted); registering again');
          await this.register();
          this.options.log('agent.registered', `registered again as ${this.id}`);
        } else if (answer.status !== 200) {
          throw new AgentHttpError(answer.status, `heartbeat refused (${answer.status}): ${answer.error}`);
        }
        if (failures) this.options.log('agent.heartbeat.recovered', `heartbeat ok after ${failures} failure(s)`);
        failures = 0;
        delay = this.intervalMs;
      } catch (error) {
        failures++;
        delay = backoffMs(failures, this.intervalMs);
        this.options.log('agent.heartbeat.failed', `heartbeat to ${this.options.admin} failed (${describe(error)}); retrying in ${delay} ms`);
      }
    }
  }

  private async register(): Promise<void> {
    const r = this.options.registration;
    const body = { ...r, ephemeral: true, ttlSeconds: this.options.ttlSeconds };
    const answer = await this.call('POST', '/v1/instances', body);
    if (answer.status !== 200) throw new AgentHttpError(answer.status, `registration refused (${answer.status}): ${answer.error}`);
    this.id = (answer.json as { id: string }).id;
  }

  private async call(method: string, urlPath: string, body?: unknown): Promise<AdminAnswer> {
    const reply = await adminRequest(this.options.admin, method, urlPath, { body, token: this.options.token, tls: this.options.tls, timeoutMs: this.timeoutMs });
    return adminAnswer(reply.status, reply.text);
  }

  private instancePath(): string {
    const r = this.options.registration;
    return `/v1/instances/${[r.namespace, r.service, this.id!].map(encodeURIComponent).join('/')}`;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }
}

/**
 * Connection errors, timeouts, 429, 5xx and 409 (the address is held by an instance the token may
 * not displace, until it expires: a container reused before its last user's record ran out) may
 * pass; a refused TLS handshake, any other answer (or a bug) will not change on retry.
 */
export function retryable(error: unknown): boolean {
  if (error instanceof AgentHttpError) return error.status === 409 || error.status === 429 || error.status >= 500;
  return error instanceof AdminCallError && error.retryable;
}

function describe(error: unknown): string {
  return error instanceof AdminCallError ? error.reason : (error as Error).message;
}
