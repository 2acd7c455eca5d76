import { describe, expect, it } from 'vitest';
import { progressPrinter } from '../../../src/cli/progress.ts';

/** A stderr stand-in that records what was written, as a terminal or as a pipe. */
function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { isTTY, chunks, write: (chunk: string) => chunks.push(chunk) > 0 } as unknown as NodeJS.WritableStream & { isTTY: boolean; chunks: string[] };
}

describe('progressPrinter', () => {
  it('off a terminal prints a line when a step starts and at each further 10 %, not per document', () => {
    const err = sink(false);
    let t = 0;
    const progress = progressPrinter(err, () => t);
    for (let done = 1; done <= 200; done++) {
      t += 10;
      progress.update({ step: `verify checksums (${done} of 200 documents)`, bytesDone: done * 1024 });
    }
    progress.end();
    const lines = err.chunks.join('').trimEnd().split('\n');
    expect(lines).toHaveLength(11);
    expect(lines[0]).toMatch(/^dr: verify checksums \(1 of 200 documents\): 1\.0 KiB \(0 %\)/);
    expect(lines.at(-1)).toMatch(/^dr: verify checksums \(200 of 200 documents\): 200\.0 KiB \(100 %\)/);
  });

  it('treats numbered run steps as separate steps, and leaves out a byte count that means nothing', () => {
    const err = sink(false);
    const progress = progressPrinter(err, () => 0);
    progress.update({ step: 'config: fetch the archive (step 2 of 10)', bytesDone: 0 });
    progress.update({ step: 'config: restore its files (step 3 of 10)', bytesDone: 0 });
    expect(err.chunks.join('')).toBe('dr: config: fetch the archive (step 2 of 10)\ndr: config: restore its files (step 3 of 10)\n');
  });

  it('on a terminal redraws one line in place with the time left, and ends it with a newline', () => {
    const err = sink(true);
    let t = 0;
    const progress = progressPrinter(err, () => t);
    progress.update({ step: 'db backup', bytesDone: 0, bytesTotal: 100 * 1024 * 1024 });
    t = 2_000;
    progress.update({ step: 'db backup', bytesDone: 50 * 1024 * 1024, bytesTotal: 100 * 1024 * 1024 });
    t = 2_050; // within the redraw interval: skipped
    progress.update({ step: 'db backup', bytesDone: 51 * 1024 * 1024, bytesTotal: 100 * 1024 * 1024 });
    progress.end();
    expect(err.chunks).toHaveLength(3);
    expect(err.chunks[1]).toBe('\r\x1b[2Kdr: db backup: 50.0 MiB of 100.0 MiB (50 %), 25.0 MiB/s, 2.0 s left');
    expect(err.chunks[2]).toBe('\n');
  });
});
