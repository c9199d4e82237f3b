import { createLogger, type Logger } from '../../src/log/logger';

/** A real pino logger at debug level whose JSON lines are kept (raw, and parsed) for assertions. */
export function captureLogs(lines: string[] = []): { logger: Logger; lines: string[]; records(): Array<Record<string, any>> } {
  const logger = createLogger('debug', { write: (line: string) => void lines.push(line) });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}
