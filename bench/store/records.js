'use strict';
/** A store filled with N instance records of the size RegistryStoreSync stores, as the store benches use it. */

const BATCH = 2000;

const value = (i) => JSON.stringify({ host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 8080, metadata: { version: i % 2 ? 'gray' : 'stable', user: `u${i}` }, ttlSeconds: 3600, ephemeral: true });

/** Puts N records into an open store, BATCH at a time (each batch one group commit or a few). */
async function fill(store, n) {
  for (let from = 0; from < n; from += BATCH) {
    const puts = [];
    for (let i = from; i < Math.min(n, from + BATCH); i++) puts.push(store.put(`instances/default/big/i${i}`, value(i)));
    await Promise.all(puts);
  }
}

module.exports = { fill };
