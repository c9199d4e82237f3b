import type { Logger } from '../log/logger';
import type { Router } from '../routing/router';
import type { Store, StoreEvent } from '../store/store';

/** Where pushed router configs are stored: `routers/<name>`. */
export const ROUTERS_PREFIX = 'routers/';

/**
 * Rolls a router's new label keys out to Envoy before `switchOver` makes the router use its
 * new config (make-before-break, see rollout.ts). `labelKeysAfter` is asked when the change's
 * turn comes, and throws if the router refuses the config by then.
 */
export type RouterRollout = (what: string, labelKeysAfter: () => readonly string[], switchOver: () => void) => Promise<void>;

/**
 * Router configuration pushed at run time. A push is first tried on the local router
 * (`configure` throws on bad config, and the push is refused), then stored; the store
 * watch applies it here and on every other replica, once Envoy has the subset selectors
 * for the label keys the new config adds.
 */
export class RouterConfigs {
  private readonly byName: Map<string, Router>;
  private readonly current = new Map<string, unknown>();
  /** The configuration file's config per router: what a withdrawn push goes back to. */
  private fromConfigFile: ReadonlyMap<string, unknown> = new Map();
  private readonly listeners = new Set<() => void>();
  private unwatch: (() => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly routers: readonly Router[],
    private readonly rollout: RouterRollout,
    private readonly log: Logger,
  ) {
    this.byName = new Map(routers.map((r) => [r.name, r]));
    const shared = routers.filter((r, i) => routers.findIndex((o) => o.name === r.name) !== i).map((r) => r.name);
    if (shared.length > 0) throw new Error(`routers: two routers are named ${shared.join(', ')}; each router needs a name of its own (a custom router's may not be a built-in's)`);
  }

  /**
   * Applies each router's stored config, else the one from the config file, else `{}`. Resolves
   * with the routers whose stored config (pushed through the API) differs from the file's, which
   * it overrides, and those whose stored config the router refuses now (its module changed since
   * the push): that one is skipped for the file's, since no push can replace it while the start fails.
   */
  async start(fromConfigFile: ReadonlyMap<string, unknown>): Promise<{ overridden: string[]; refusedStored: { router: string; error: Error }[] }> {
    for (const name of fromConfigFile.keys()) {
      if (!this.byName.has(name)) throw new Error(`routers: no router named ${name} (known: ${[...this.byName.keys()].join(', ')})`);
    }
    this.fromConfigFile = fromConfigFile;
    const { entries, revision } = await this.store.list(ROUTERS_PREFIX);
    const stored = new Map(entries.map((e) => [e.key.slice(ROUTERS_PREFIX.length), JSON.parse(e.value) as unknown]));
    const refusedStored: { router: string; error: Error }[] = [];
    const refusedFile: string[] = [];
    for (const [name, router] of this.byName) {
      if (stored.has(name)) {
        try {
          router.configure(stored.get(name));
          this.current.set(name, stored.get(name));
          continue;
        } catch (error) {
          refusedStored.push({ router: name, error: error as Error });
          stored.delete(name);
        }
      }
      const config = this.fileConfig(name);
      try {
        router.configure(config);
      } catch (error) {
        const from = this.fromConfigFile.has(name) ? 'from the configuration file' : '(none in the configuration file: {})';
        refusedFile.push(`routers: router ${name} refused its config ${from}: ${(error as Error).message}`);
        continue;
      }
      this.current.set(name, config);
    }
    // Every router's refusal at once: fixing them one start at a time would take as many starts.
    if (refusedFile.length > 0) throw new Error(refusedFile.join('\n'));
    this.unwatch = this.store.watch(ROUTERS_PREFIX, revision, (event) => this.apply(event));
    const overridden = [...fromConfigFile.keys()].filter((name) => stored.has(name) && JSON.stringify(stored.get(name)) !== JSON.stringify(fromConfigFile.get(name)));
    return { overridden, refusedStored };
  }

  stop(): void {
    this.unwatch?.();
  }

  /** Called after a pushed config is applied (the routers' label keys may have changed). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Refused (throws) when the router refuses the config; live on every replica once stored and rolled out. */
  async push(name: string, config: unknown): Promise<void> {
    const router = this.byName.get(name);
    if (!router) throw new Error(`no router named ${name}`);
    try {
      this.probe(router, config);
      router.checkNew?.(config);
    } catch (error) {
      this.log.warn({ event: 'router.config.refused', router: name, err: error }, 'router config refused; the previous config stays');
      throw error;
    }
    try {
      await this.store.put(`${ROUTERS_PREFIX}${name}`, JSON.stringify(config));
    } catch (error) {
      this.log.error({ event: 'store.failed', router: name, err: error }, 'storing a router config failed; the previous config stays');
      throw error;
    }
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * Deletes the router's pushed config: every replica goes back to its configuration file's
   * (or `{}`), rolled out as a push is. False when none was pushed.
   */
  async withdraw(name: string): Promise<boolean> {
    if (!this.byName.has(name)) throw new Error(`no router named ${name}`);
    try {
      return await this.store.delete(`${ROUTERS_PREFIX}${name}`);
    } catch (error) {
      this.log.error({ event: 'store.failed', router: name, err: error }, 'withdrawing a router config failed; the pushed config stays');
      throw error;
    }
  }

  dump(): Record<string, unknown> {
    return Object.fromEntries(this.current);
  }

  private apply(event: StoreEvent): void {
    const name = event.key.slice(ROUTERS_PREFIX.length);
    const router = this.byName.get(name);
    if (!router) return;
    const config = event.type === 'put' ? (JSON.parse(event.value!) as unknown) : this.fileConfig(name);
    const what = `router ${name} config v${event.revision}${event.type === 'put' ? '' : ' (push withdrawn)'}`;
    const keysAfter = (): readonly string[] => this.routers.flatMap((r) => (r === router ? this.probe(r, config) : r.labelKeys?.() ?? []));
    void this.rollout(what, keysAfter, () => {
      router.configure(config);
      this.current.set(name, config);
      this.log.info({ event: 'router.config.applied', router: name, revision: event.revision, withdrawn: event.type === 'delete' }, 'router config applied');
      for (const listener of this.listeners) listener();
    });
  }

  private fileConfig(name: string): unknown {
    return this.fromConfigFile.get(name) ?? {};
  }

  /**
   * Validates `config` on the live router and returns the label keys it would add, leaving the
   * router as it was: both configure calls run in one synchronous step, so no request sees
   * the new config before its rollout.
   */
  private probe(router: Router, config: unknown): readonly string[] {
    router.configure(config);
    const keys = router.labelKeys?.() ?? [];
    router.configure(this.current.get(router.name) ?? {});
    return keys;
  }
}
