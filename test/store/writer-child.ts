// Child process for the crash test: writes keys as fast as it can and reports each
// acknowledged write on stdout, until it is killed with SIGKILL.
import { EmbeddedStore } from '../../src/store/embedded';

const store = EmbeddedStore.open(process.argv[2]!);
let i = 0;
async function loop(): Promise<void> {
  for (;;) {
    const batch = Array.from({ length: 8 }, () => i++);
    await Promise.all(batch.map(async (n) => {
      await store.put(`k/${n}`, `value-${n}`);
      process.stdout.write(`ack ${n}\n`);
    }));
  }
}
void loop();
