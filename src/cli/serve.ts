import cluster from 'node:cluster';
import { App } from '../app/app';
import { runExtProcWorker } from '../app/worker';
import { ConfigError, loadConfig } from '../config/config';
import { parseArgs } from './args';

function log(message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
}

export async function runServe(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ['config']);
  let config;
  try {
    config = loadConfig(args.flags.get('config')?.[0]);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (cluster.isWorker) {
    await runExtProcWorker(config, log);
    return 0;
  }
  const app = await App.start(config, log);
  log(`metaroute serving: ext_proc ${config.host}:${app.ports.extProc}, xDS ${config.host}:${app.ports.xds}, admin http://${config.host}:${app.ports.admin} (${config.store.kind === 'etcd' ? `store: etcd ${config.store.endpoints.join(', ')}` : `data in ${config.dataDir}`})`);
  // First signal: drain, then close. Second: end the drain. Third: a shutdown that hangs is cut off.
  let signals = 0;
  const stop = (signal: string) => {
    signals++;
    if (signals === 1) {
      const drain = config.drainSeconds > 0 ? `, draining ${config.drainSeconds} s (signal again to close now)` : '';
      log(`${signal}: shutting down${drain}`);
    } else if (signals === 2) {
      log(`${signal} again: closing now${config.drainSeconds > 0 ? '' : ' (signal once more to exit at once)'}`);
    } else {
      log(`${signal} a third time: exiting without finishing the shutdown`);
      process.exit(1);
    }
    app.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  return 0;
}
