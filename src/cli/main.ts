#!/usr/bin/env node
import { runAgent } from './agent';
import { runExplain } from './explain';
import { runServe } from './serve';
import { runStore } from './store';
import { runValidate } from './validate';

const USAGE = `usage: metaroute <command>

  serve [--config FILE]       run the ext_proc, xDS and admin servers
  validate FILE               check a rules file; exit 1 with path:line errors
  explain [options]           ask a running server why a request goes where it goes
      --admin URL             admin address (default http://127.0.0.1:18090)
      --service NAME          callee (shop or shop.default); else from --header :authority=...
      --header k=v            a request header (repeatable)
      --caller NAME           caller service; --caller-namespace NS; --caller-label k=v (repeatable)
      --token TOKEN           admin token (or METAROUTE_TOKEN) when the admin API requires one
  store repair --data-dir DIR cut a damaged embedded store log at its first bad record (stop the server first)
  agent --service NAME --host IP --port N [options]
                              register this instance and keep it alive until SIGTERM (options: docs/AGENT.md)
  agent --file FILE [--admin URL] [--ttl S]
                              the same for every instance of a JSON list, by batch, with batched heartbeats
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'validate':
      return runValidate(rest);
    case 'explain':
      return runExplain(rest);
    case 'agent':
      return runAgent(rest);
    case 'store':
      return runStore(rest);
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`metaroute: unknown command ${command}\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0 || process.argv[2] !== 'serve') process.exitCode = code;
  },
  (error: Error) => {
    process.stderr.write(`metaroute: ${error.message}\n`);
    process.exitCode = 1;
  },
);
