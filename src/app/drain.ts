/**
 * The time between reporting NOT_SERVING and closing the listeners. Requests keep being
 * answered meanwhile, so health checkers (Envoy's, Kubernetes') can steer new traffic away
 * before the port closes. `cut()` ends a window early (a second stop signal).
 */
export class DrainWindow {
  private cutShort: (() => void) | undefined;
  private wasCut = false;

  constructor(private readonly ms: number) {}

  wait(): Promise<void> {
    if (this.ms <= 0 || this.wasCut) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.ms);
      this.cutShort = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  cut(): void {
    this.wasCut = true;
    this.cutShort?.();
  }
}
