import type { DrError } from '../domain/errors.ts';

/** The one wording of an error, shared by Slack and the terminal: what happened, then what to try. */
export function errorLines(error: DrError): { message: string; suggestion: string | undefined } {
  return { message: error.userMessage, suggestion: error.hint ? `Did you mean \`${error.hint}\`? Try \`help\` for the full list.` : undefined };
}
