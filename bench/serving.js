'use strict';
/** Resolves once a spawned `metaroute serve` has logged that it serves (its stderr piped); rejects if it exits first. */
function untilServing(child) {
  return new Promise((resolve, reject) => {
    let log = '';
    child.stderr.on('data', (d) => {
      log += d;
      if (log.includes('metaroute serving')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`metaroute exited ${code}:\n${log}`)));
  });
}

module.exports = { untilServing };
