import { text, type Command } from './command';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Run the ext_proc, xDS and admin servers until SIGTERM/SIGINT. Logs are JSON lines on stderr.',
  options: {
    config: { type: 'string', short: 'c', value: 'FILE', help: 'server configuration, YAML or JSON (default: built-in defaults and METAROUTE_* variables)' },
  },
  notes: 'The configuration reference is in README.md (Configuration).',
  async run(values) {
    // The servers' modules (protos, grpc-js, the store) take ~0.3 s to load: only `serve` pays it.
    const { runServer } = await import('./run-server');
    return runServer(text(values, 'config'));
  },
};
