// Child process for the crash tests: writes keys as fast as it can and reports each
// acknowledged write on stdout, until it is killed with SIGKILL. With a key count, the
// writes cycle over that many keys (churn), and a low compaction threshold makes the
// store compact while they land.
import { createLogger } from '../../src/log/logger';
import { EmbeddedStore } from '../../src/store/embedded';

async function main(): Promise<void> {
  const keys = Number(process.argv[3] ?? 0);
  const store = await EmbeddedStore.open(process.argv[2]!, { compactAfterRecords: keys ? 200 : undefined, log: createLogger('info') });
  let i = 0;
  for (;;) {
    const batch = Array.from({ length: 8 }, () => i++);
    await Promise.all(batch.map(async (n) => {
      await store.put(`k/${keys ? n % keys : n}`, `value-${n}`);
      process.stdout.write(`ack ${n}\n`);
    }));
  }
}
void main();
