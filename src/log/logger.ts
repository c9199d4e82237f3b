import pino from 'pino';

/** The server's logger: pino, one JSON line per event with `level`, `time` and `msg`. */
export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * JSON lines to `destination` (stderr by default, written synchronously: nothing logs on the
 * ext_proc hot path, and a line written before an exit is never lost). Levels are names
 * (`"level":"info"`), times ISO 8601, as log collectors expect.
 */
export function createLogger(level: LogLevel = 'info', destination: pino.DestinationStream = pino.destination({ dest: 2, sync: true })): Logger {
  return pino(
    {
      level,
      base: { name: 'metaroute' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything (library use and tests that do not look at logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
