import { serviceKey } from '../model/instance';
import type { Registry } from './registry';

/**
 * The instances that changed (added, replaced, displaced or removed) while it listened, by
 * service and id and by service and address. A check run in slices over many turns needs
 * checking again, in the turn it is acted on, only where what it read has changed since: these.
 */
export class ChangedInstances {
  private readonly ids = new Set<string>();
  private readonly addresses = new Set<string>();
  private readonly stopListening: () => void;

  constructor(registry: Registry) {
    this.stopListening = registry.onInstanceChange((view, removed, added) => {
      for (const instance of [removed, added]) {
        if (!instance) continue;
        this.ids.add(`${view.key}\0${instance.id}`);
        this.addresses.add(`${view.key}\0${instance.host}:${instance.port}`);
      }
    });
  }

  get none(): boolean {
    return this.ids.size === 0;
  }

  hasId(namespace: string, service: string, id: string): boolean {
    return this.ids.size > 0 && this.ids.has(`${serviceKey(namespace, service)}\0${id}`);
  }

  hasAddress(namespace: string, service: string, host: string, port: number): boolean {
    return this.addresses.size > 0 && this.addresses.has(`${serviceKey(namespace, service)}\0${host}:${port}`);
  }

  close(): void {
    this.stopListening();
  }
}
