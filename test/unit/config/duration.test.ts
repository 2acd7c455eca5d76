import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../src/config/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['90s', 90_000],
    ['15m', 900_000],
    ['4h', 14_400_000],
    ['7d', 604_800_000],
    ['2w', 1_209_600_000],
    ['1.5h', 5_400_000],
    ['0.5s', 500],
    [' 30m ', 1_800_000],
    ['0m', 0],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '15', 'm', '15 m', '4 hours', '-5m', '1h30m', '15M', '.5h', '5y', 'ms', '1e3ms', 'h4'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0 ms'],
    [850, '850 ms'],
    [999, '999 ms'],
    [1_000, '1.0 s'],
    [1_500, '1.5 s'],
    [9_900, '9.9 s'],
    [12_000, '12 s'],
    [59_000, '59 s'],
    [60_000, '1 min'],
    [119_999, '1 min'],
    [59 * 60_000, '59 min'],
    [3_600_000, '1 h'],
    [3 * 3_600_000 + 5 * 60_000, '3 h 5 min'],
    [47 * 3_600_000, '47 h'],
    [48 * 3_600_000, '2 d'],
    [52 * 3_600_000, '2 d 4 h'],
    [7 * 86_400_000, '7 d'],
  ])('%d ms → %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it.each([
    ['15m', '15 min'],
    ['4h', '4 h'],
    ['1h', '1 h'],
    ['30m', '30 min'],
    ['90s', '1 min'],
  ])('round trip %j → %j', (input, text) => {
    expect(formatDuration(parseDuration(input)!)).toBe(text);
  });
});
