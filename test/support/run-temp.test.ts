import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeRunTemp, removeRunTemp } from './run-temp';

describe("the test run's temporary folder", () => {
  it('is where this worker makes its temporary folders', () => {
    expect(path.basename(os.tmpdir())).toMatch(/^metaroute-jest-/);
  });

  it('is removed with what tests left in it, without following links out of it', () => {
    const before = process.env.TMPDIR;
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'outside-'));
    try {
      const root = makeRunTemp();
      fs.mkdirSync(path.join(root, 'left', 'behind'), { recursive: true });
      fs.symlinkSync(outside, path.join(root, 'left', 'link'));
      removeRunTemp(root);
      expect(fs.existsSync(root)).toBe(false);
      expect(fs.existsSync(outside)).toBe(true);
    } finally {
      process.env.TMPDIR = before; // makeRunTemp pointed it into the folder just removed
      fs.rmSync(outside, { recursive: true });
    }
  });
});
