import pino from 'pino';

/** The server's logger: pino, one JSON line per event with `level`, `time` and `msg`. */
export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * What stderr may hold back while its reader falls behind; past it lines are dropped and
 * counted (a `log.dropped` line says how many once the reader catches up).
 */
const LOG_BUFFER_BYTES = 16 * 1024 * 1024;
const PIPE_BUF = 4096;

/** Where the server's lines go when no stream is given: a file descriptor, buffered up to `bufferBytes`. */
export interface BufferedFd {
  readonly fd: number;
  readonly bufferBytes: number;
}

/**
 * JSON lines to `destination`: by default stderr, written asynchronously, because a log reader
 * that stops reading (a full pipe) would otherwise stop the event loop that answers ext_proc,
 * e.g. while 10,000 instances expire, a line each. Buffered lines are written out on exit.
 * Levels are names (`"level":"info"`), times ISO 8601, as log collectors expect.
 */
export function createLogger(level: LogLevel = 'info', destination: pino.DestinationStream | BufferedFd = { fd: 2, bufferBytes: LOG_BUFFER_BYTES }): Logger {
  // Writes of at most PIPE_BUF (4 KiB) hold whole lines and are atomic on a pipe: the lines of
  // `workers` processes sharing one stderr never interleave mid-line.
  const buffered = 'bufferBytes' in destination ? pino.destination({ dest: destination.fd, sync: false, maxLength: destination.bufferBytes, maxWrite: PIPE_BUF }) : undefined;
  const logger = pino(
    {
      level,
      base: { name: 'metaroute' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    buffered ?? (destination as pino.DestinationStream),
  );
  if (buffered) {
    let dropped = 0;
    buffered.on('drop', () => void dropped++);
    buffered.on('drain', () => {
      if (dropped === 0) return;
      const lines = dropped;
      dropped = 0;
      logger.warn({ event: 'log.dropped', lines }, `${lines} log lines dropped: the log reader fell behind by more than the ${(destination as BufferedFd).bufferBytes} bytes held for it`);
    });
  }
  return logger;
}

/** A logger that drops everything (library use and tests that do not look at logs). */
export const silentLogger: Logger = pino({ level: 'silent' });
