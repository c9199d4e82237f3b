import { DecisionSplit } from '../metrics/decision-split';
import { MetricsRegistry } from '../metrics/metrics';
import type { ServerConfig } from '../config/config';
import type { Logger } from '../log/logger';
import { Readiness } from '../extproc/health';
import { bindGrpc, shutdownGrpc } from './grpc-server';
import { serverCredentials } from './grpc-security';
import { createExtProcServer, routingSide, warmUp } from './app';
import { FollowPrimaryRollout } from './follow-rollout';
import { MirrorStore } from './mirror-store';
import type { FromWorker, ToWorker } from './workers';

/**
 * An ext_proc worker (`workers: N`): waits for the primary's store snapshot, builds the same
 * routing side as the primary over a MirrorStore the primary keeps current (rule and router
 * changes used when the primary's rollout switches them over), and serves ext_proc on the
 * shared port. Exits when the primary says stop or goes away.
 */
export async function runExtProcWorker(config: ServerConfig, log: Logger): Promise<void> {
  try {
    await serveWorker(config, log);
  } catch (error) {
    // The IPC channel would keep a failed worker alive; the primary sees the exit and fails its start.
    log.fatal({ event: 'worker.failed', err: error }, 'ext_proc worker failed to start');
    process.exit(1);
  }
}

async function serveWorker(config: ServerConfig, log: Logger): Promise<void> {
  const send = (message: FromWorker) => process.send!(message);
  const store = new MirrorStore();
  // The primary's rollout waits at most rolloutWaitMs for Envoy; a second more covers the IPC.
  const follow = new FollowPrimaryRollout(config.xds.rolloutWaitMs + 1000, (what) => send({ t: 'switched', what }), log);
  const readiness = new Readiness();
  const releases: Array<() => unknown> = [];
  // This worker's decisions for the console's live split; the primary sums the workers'.
  const split = new DecisionSplit();
  releases.push(() => split.close());
  // Created now, so that the primary's questions are answered (with zeros) before ext_proc serves.
  const metrics = new MetricsRegistry();
  let stop = (): void => process.exit(0);
  const loaded = new Promise<void>((resolve) => {
    process.on('message', (message: ToWorker) => {
      switch (message.t) {
        case 'init':
          store.load(message.entries, message.revision);
          if (message.last) resolve();
          break;
        case 'events':
          for (const event of message.events) store.apply(event);
          break;
        case 'phase':
          readiness.set(message.phase);
          break;
        case 'switched':
          follow.switched(message.what);
          break;
        case 'stats':
          send({ t: 'stats', decisions: metrics.observations('metaroute_decision_seconds') });
          break;
        case 'split':
          send({ t: 'split', key: message.key, split: split.read(message.key) });
          break;
        case 'metrics':
          send({ t: 'metrics', metrics: metrics.snapshot() });
          break;
        case 'stop':
          stop();
          break;
      }
    });
  });
  process.on('disconnect', () => stop()); // the primary is gone
  // A terminal's Ctrl-C reaches the whole process group: the primary decides when workers stop (after its drain).
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => undefined);
  await loaded;
  const { engine } = await routingSide(config, store, log, releases, { rulesFile: undefined, rollout: follow.rollout, worker: true });
  store.endListing();
  const server = createExtProcServer(config, engine, metrics, readiness, log, split);
  stop = () => {
    readiness.set('stopping');
    void shutdownGrpc(server).then(async () => {
      for (const release of releases.reverse()) await release();
      process.exit(0);
    });
  };
  // Read before the warm-up: a worker whose TLS files are unusable fails without one, and one the
  // primary keeps replacing while they stay so does not spend a warm-up on each try.
  const credentials = serverCredentials(config.extProc.tls, 'extProc', log);
  await warmUp(config, engine, log);
  if (readiness.phase === 'stopping') return; // stopped while warming up (the primary's stop or its stopping phase): not to be bound
  const port = await bindGrpc(server, config.host, config.ports.extProc, credentials);
  readiness.set('serving');
  send({ t: 'ready', port });
}
