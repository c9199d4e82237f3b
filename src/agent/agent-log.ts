/** How an agent tells what happened: the log line's `event` (README, "Logs") and its message. */
export type AgentLog = (event: string, message: string) => void;

/** Trouble the agent rides out (it retries, or registers again). */
const WARNINGS = new Set(['agent.registration.retry', 'agent.instance.unknown', 'agent.heartbeat.failed', 'agent.deregistration.failed']);

/** The level an agent event is logged at: giving up is an error, trouble it rides out a warning. */
export function agentLogLevel(event: string): 'error' | 'warn' | 'info' {
  if (event === 'agent.failed') return 'error';
  return WARNINGS.has(event) ? 'warn' : 'info';
}
