import type { Instance } from '../model/instance';
import { adminRequest, type AdminTls } from './admin-request';
import { AgentHttpError, retryable } from './agent';
import type { AgentLog } from './agent-log';
import { backoffMs } from './backoff';

export interface BatchAgentOptions {
  /** Admin base URL, e.g. http://metaroute:18090. */
  readonly admin: string;
  /** Validated registrations (ephemeral, with the agent's TTL). */
  readonly instances: readonly Instance[];
  /** Heartbeats go every ttl/3, all instances in one call (or a few, 10,000 per call). */
  readonly ttlSeconds: number;
  readonly token?: string;
  /** For an https:// admin URL: the client certificate and CA (admin.tls). */
  readonly tls?: AdminTls;
  readonly log: AgentLog;
  /** Tries of the first registration before start() gives up (default 8, under 20 s with backoff, as a single registration's). */
  readonly registerAttempts?: number;
}

/** Per call, below the server's 10,000-entry and 1 MiB limits. */
const REGISTER_PER_CALL = 2000;
const HEARTBEATS_PER_CALL = 10_000;

interface Ref {
  readonly namespace: string;
  readonly service: string;
  readonly id: string;
}

const refOf = (i: Instance): Ref => ({ namespace: i.namespace, service: i.service, id: i.id });
const keyOf = (r: Ref): string => `${r.namespace}/${r.service}/${r.id}`;

/**
 * Keeps many instances registered from one process (a node agent for many per-user
 * containers): registers them by batch, sends their heartbeats together (one HTTP call per
 * 10,000 instances every ttl/3, instead of one call per instance), registers again those the
 * server reports unknown (expired), and deregisters them all by batch on stop().
 */
export class BatchAgent {
  private readonly intervalMs: number;
  private readonly byKey: Map<string, Instance>;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** The first registration with its retries, while start() runs: stop() waits for it, so a late registration cannot land after the deregistration. */
  private starting: Promise<void> | undefined;
  /** Ends a retry's wait early (stop). */
  private wake: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly options: BatchAgentOptions) {
    this.intervalMs = Math.round((options.ttlSeconds * 1000) / 3);
    this.byKey = new Map(options.instances.map((i) => [keyOf(i), i]));
  }

  async start(): Promise<void> {
    const registered = new Map<string, Instance>();
    this.starting = this.registerWithRetry(registered);
    try {
      await this.starting;
    } catch (error) {
      // A later batch refused (a token for some of the file's services only) left the earlier
      // ones registered, thousands, with nothing to keep them alive or take them back: withdrawn.
      if (!this.stopped && registered.size > 0) await this.deregister([...registered.values()], 'agent.registration.withdrawn', 'withdrew');
      throw error;
    }
    this.options.log('agent.registered', `registered ${this.byKey.size} instance(s) (ttl ${this.options.ttlSeconds}s, one heartbeat call per ${HEARTBEATS_PER_CALL} every ${this.intervalMs} ms)`);
    this.schedule();
  }

  /** Registers the file's instances, `registered` collecting those of every call that went through. */
  private async registerWithRetry(registered: Map<string, Instance>): Promise<void> {
    const attempts = this.options.registerAttempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.register(this.options.instances, registered);
        return;
      } catch (error) {
        // As a single registration's: a refused TLS handshake, and an answer such as 400, 401 or 403,
        // will not change on retry (they were retried 8 times, about 30 s, before the agent gave up).
        if (attempt >= attempts || this.stopped || !retryable(error)) throw error;
        const delay = backoffMs(attempt, this.intervalMs);
        this.options.log('agent.registration.retry', `batch registration failed (${(error as Error).message}); attempt ${attempt}/${attempts}, retrying in ${delay} ms`);
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, delay);
        });
        if (this.stopped) throw new Error('stopped before the instances were registered');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.();
    // As a single agent's: a registration on its way when the stop came must land before the
    // deregistration, or it registers the instances after it (left to expire, after "deregistered 0").
    await this.starting?.catch(() => undefined);
    await this.beating;
    await this.deregister([...this.byKey.values()], 'agent.deregistered', 'deregistered');
  }

  /** Deregisters `instances` by batch, best effort; logs how many the server had. */
  private async deregister(instances: readonly Instance[], event: string, verb: string): Promise<void> {
    const refs = instances.map(refOf);
    try {
      // Counted from the answers: an agent stopped before its registration went through (or after
      // the instances expired) deregisters none, and said it had deregistered them all.
      let deregistered = 0;
      for (let from = 0; from < refs.length; from += REGISTER_PER_CALL) {
        const answer = (await this.call('/v1/instances/batch', { deregister: refs.slice(from, from + REGISTER_PER_CALL) })) as { deregistered: number };
        deregistered += answer.deregistered;
      }
      const gone = refs.length - deregistered;
      this.options.log(event, `${verb} ${deregistered} instance(s)${gone ? `; ${gone} the server no longer knew` : ''}`);
    } catch (error) {
      this.options.log('agent.deregistration.failed', `deregistration failed (${(error as Error).message}); the server drops the instances after their ttl`);
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.beating = this.beat().finally(() => this.schedule());
    }, this.intervalMs);
  }

  /** One round of heartbeats; instances the server no longer knows are registered again. */
  private async beat(): Promise<void> {
    const refs = [...this.byKey.values()].map(refOf);
    try {
      const unknown: Instance[] = [];
      for (let from = 0; from < refs.length; from += HEARTBEATS_PER_CALL) {
        const answer = (await this.call('/v1/heartbeats', { instances: refs.slice(from, from + HEARTBEATS_PER_CALL) })) as { unknown: Ref[] };
        for (const ref of answer.unknown) unknown.push(this.byKey.get(keyOf(ref))!);
      }
      if (unknown.length > 0) {
        this.options.log('agent.instance.unknown', `the server no longer knows ${unknown.length} instance(s) (expired or deleted); registering them again`);
        await this.register(unknown);
      }
    } catch (error) {
      this.options.log('agent.heartbeat.failed', `heartbeats failed (${(error as Error).message}); retrying next round`);
    }
  }

  private async register(instances: readonly Instance[], registered?: Map<string, Instance>): Promise<void> {
    for (let from = 0; from < instances.length; from += REGISTER_PER_CALL) {
      const batch = instances.slice(from, from + REGISTER_PER_CALL);
      await this.call('/v1/instances/batch', { register: batch });
      for (const instance of batch) registered?.set(keyOf(instance), instance);
    }
  }

  private async call(urlPath: string, body: unknown): Promise<unknown> {
    const { status, text } = await adminRequest(this.options.admin, 'POST', urlPath, { body, token: this.options.token, tls: this.options.tls, timeoutMs: Math.max(5000, this.intervalMs) });
    if (status !== 200) {
      let detail = text.slice(0, 500);
      try {
        const e = JSON.parse(text) as { error: string; details?: string[] };
        detail = [e.error, ...(e.details ?? []).slice(0, 5)].join('; ');
      } catch {
        // not JSON: the raw text says it
      }
      throw new AgentHttpError(status, `${urlPath} answered ${status}: ${detail}`);
    }
    return JSON.parse(text) as unknown;
  }
}
