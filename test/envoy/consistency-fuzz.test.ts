import { ENVOY } from '../support/envoy';
import { describeWith } from '../support/requires';
import { ConsistencyFuzz } from './consistency-fuzz';

/**
 * A seeded random walk of registrations, rules and router configs through real Envoy, over
 * SotW and Delta ADS (consistency-fuzz.ts). FUZZ_SEED and FUZZ_STEPS replay or lengthen a run.
 */
const SEED = Number(process.env['FUZZ_SEED'] ?? 6);
const STEPS = Number(process.env['FUZZ_STEPS'] ?? 20);

describeWith(ENVOY, `Envoy and metaroute agree after every change (seed ${SEED}, ${STEPS} steps)`, () => {
  for (const delta of [false, true]) {
    test(`${delta ? 'Delta' : 'SotW'} ADS`, async () => {
      const fuzz = await ConsistencyFuzz.start(SEED, delta);
      try {
        await fuzz.run(STEPS);
        expect({ findings: fuzz.findings, log: fuzz.findings.length ? fuzz.log : [] }).toEqual({ findings: [], log: [] });
        // Not vacuous: changes of several kinds were made, and Envoy answered from several backends.
        expect(fuzz.coverage.kinds.size).toBeGreaterThanOrEqual(4);
        expect(fuzz.coverage.answered).toBeGreaterThan(STEPS * 3);
        expect(fuzz.coverage.slots.size).toBeGreaterThanOrEqual(2);
      } finally {
        await fuzz.stop();
      }
    }, 120_000);
  }
});
