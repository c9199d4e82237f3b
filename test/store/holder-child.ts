// Child process that opens a store and holds it until killed (the second-process test).
import { EmbeddedStore } from '../../src/store/embedded';

void EmbeddedStore.open(process.argv[2]!).then(() => process.stdout.write('open\n'));
setInterval(() => undefined, 1000);
