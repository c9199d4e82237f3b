import { collectDefaultMetrics, Registry } from 'prom-client';

let runtime: Registry | undefined;

/**
 * Process and Node.js runtime metrics from prom-client (CPU, memory, heap spaces, event-loop
 * delay, GC durations, active handles, file descriptors). One registry per process: its collectors
 * (a GC observer, an event-loop delay monitor) are process-wide.
 */
export function runtimeMetrics(): Promise<string> {
  if (!runtime) {
    runtime = new Registry();
    collectDefaultMetrics({ register: runtime });
    // Gauges named *_total, which Prometheus' linter (promtool check metrics) refuses; the per-type nodejs_active_* gauges carry the same counts.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) runtime.removeSingleMetric(name);
  }
  return runtime.metrics();
}
