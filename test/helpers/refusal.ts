import { DrError } from '../../src/domain/errors.ts';

/** The DrError a call throws (a refusal); anything else it throws is rethrown, and not throwing fails the test. */
export function thrownDrError(fn: () => unknown): DrError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DrError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}
