import { checkedRouter } from './checked-router';
import type { Router } from './router';

/**
 * Loads a custom router from a CommonJS module. The module exports `createRouter()`
 * (or a default export that is that function) returning a Router; see the README.
 */
export function loadRouterModule(modulePath: string): Router {
  let mod: Record<string, unknown>;
  try {
    mod = require(modulePath) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`router module ${modulePath}: cannot load: ${(error as Error).message}`);
  }
  const factory = (mod.createRouter ?? mod.default) as unknown;
  if (typeof factory !== 'function') throw new Error(`router module ${modulePath}: must export createRouter() returning a router`);
  const router = (factory as () => unknown)();
  const problems = routerShapeProblems(router);
  if (problems.length) throw new Error(`router module ${modulePath}: ${problems.join('; ')}`);
  return checkedRouter(router as Router);
}

function routerShapeProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return ['createRouter() must return an object'];
  const r = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof r.name !== 'string' || r.name === '') problems.push('name must be a non-empty string');
  if (typeof r.order !== 'number' || !Number.isFinite(r.order)) problems.push('order must be a number');
  if (typeof r.configure !== 'function') problems.push('configure(config) must be a function');
  if (typeof r.route !== 'function') problems.push('route(ctx, input) must be a function');
  return problems;
}
