import type { transpileCli } from './transpile';

export default function globalTeardown(): void {
  (globalThis as { metarouteSharedCli?: ReturnType<typeof transpileCli> }).metarouteSharedCli?.cleanup();
}
