import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../log/logger';

/** grpc-js writes its own lines (a failed bind, GRPC_TRACE output) as plain text on stderr: they go into the JSON log instead, as event `grpc`. */
export function logGrpcThrough(log: Logger): void {
  const line = (level: 'error' | 'info' | 'debug') => (...parts: unknown[]) => log[level]({ event: 'grpc' }, parts.map(String).join(' '));
  grpc.setLogger({ error: line('error'), info: line('info'), debug: line('debug') });
}

/** Binds a grpc-js server; resolves with the bound port (useful when asking for port 0). Credentials are explicit: a listener configured for TLS must never fall back to plaintext. */
export function bindGrpc(server: grpc.Server, host: string, port: number, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    server.bindAsync(address, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
  });
}

/** Graceful shutdown with a deadline, then force: a stuck client must not hold the process. */
export function shutdownGrpc(server: grpc.Server, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
