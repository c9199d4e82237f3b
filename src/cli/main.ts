#!/usr/bin/env node
import { VERSION } from '../model/build-info';
import { agentCommand } from './agent';
import { analyzeCommand } from './analyze';
import { runCommand, STDIO, type Command } from './command';
import { explainCommand } from './explain';
import { serveCommand } from './serve';
import { storeCommand } from './store';
import { validateCommand } from './validate';

const COMMANDS: readonly Command[] = [serveCommand, validateCommand, explainCommand, analyzeCommand, agentCommand(), storeCommand];

const USAGE = `usage: metaroute <command> [options]

commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary.split('. ')[0]!.replace(/\.$/, '')}`).join('\n')}

  metaroute <command> --help   options of a command
  metaroute --version          print the version
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return runCommand(command, rest, STDIO);
  if (name === '--version' || name === '-V') {
    process.stdout.write(`metaroute ${VERSION}\n`);
    return 0;
  }
  if (name === '--help' || name === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stderr.write(`${name === undefined ? '' : `metaroute: unknown command ${JSON.stringify(name)}\n\n`}${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    // `serve` and `agent` keep running on their servers and timers once started.
    if (code !== 0) process.exitCode = code;
  },
  (error: Error) => {
    process.stderr.write(`metaroute: ${error.stack ?? error.message}\n`);
    process.exitCode = 1;
  },
);
