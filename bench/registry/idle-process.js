// The control of bench/registry/run.js: a Node process with nothing to do but the 1 ms timer of
// probe.js (preloaded), at the server's nice value and CPUs. Its event-loop stalls are the
// machine's (the hypervisor taking a vCPU, the kernel), the floor under any server's figures.
'use strict';
setInterval(() => undefined, 1 << 30);
process.on('disconnect', () => process.exit(0));
