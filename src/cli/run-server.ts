import cluster from 'node:cluster';
import { App } from '../app/app';
import { setHeapGrowth } from '../app/heap-growth';
import { logGrpcThrough } from '../app/grpc-server';
import { runExtProcWorker } from '../app/worker';
import { ConfigError, loadConfig } from '../config/config';
import { createLogger } from '../log/logger';
import { CommandError } from './command';

/** `metaroute serve`: loaded only when the command runs, so the other commands and --help start without the servers' modules. */
export async function runServer(configFile: string | undefined): Promise<number> {
  let config;
  try {
    config = loadConfig(configFile);
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandError(error.message);
    throw error;
  }
  const log = createLogger(config.logLevel);
  logGrpcThrough(log);
  setHeapGrowth(); // this process's, primary or ext_proc worker
  if (cluster.isWorker) {
    await runExtProcWorker(config, log);
    return 0;
  }
  let app: App;
  try {
    app = await App.start(config, log);
  } catch (error) {
    log.fatal({ event: 'start.failed', err: error }, 'metaroute could not start');
    return 1;
  }
  log.info({ event: 'serving', host: config.host, ports: app.ports, store: config.store.kind === 'etcd' ? { etcd: config.store.endpoints } : { dataDir: config.dataDir }, rulesFile: config.rulesFile }, 'metaroute serving');
  // First signal: drain, then close. Second: end the drain. Third: a shutdown that hangs is cut off.
  let signals = 0;
  const stop = (signal: string) => {
    signals++;
    if (signals === 1) log.info({ event: 'stopping', signal, drainSeconds: config.drainSeconds }, 'shutting down (signal again to close now)');
    else if (signals === 2) log.info({ event: 'stopping', signal }, 'closing now (signal once more to exit at once)');
    else {
      log.warn({ event: 'stopping', signal }, 'exiting without finishing the shutdown');
      process.exit(1);
    }
    app.stop().then(() => process.exit(0), (error: Error) => {
      log.error({ event: 'stop.failed', err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return 0;
}
