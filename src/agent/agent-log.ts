/** How an agent tells what happened: the log line's `event` (README, "Logs") and its message. */
export type AgentLog = (event: string, message: string) => void;
