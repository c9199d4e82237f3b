import * as grpc from '@grpc/grpc-js';

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
