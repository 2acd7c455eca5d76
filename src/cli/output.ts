import { DrError, errorText } from '../domain/errors.ts';
import { renderError } from './render.ts';

/** Where the CLI writes: results on `out`, everything else (progress, warnings, errors) on `err`. */
export interface CliStreams {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Prints a result: JSON document or text on stdout. */
export function done(io: CliStreams, json: boolean, document: unknown, text: string, code = 0): number {
  io.out.write(json ? `${JSON.stringify(document, null, 2)}\n` : text);
  return code;
}

/** Prints a refusal or failure: the JSON error document on stdout with --json, always a line on stderr. */
export function fail(io: CliStreams, json: boolean, error: DrError): number {
  if (json) io.out.write(renderError(error, true));
  io.err.write(renderError(error, false));
  return 2;
}

/** Options of one configured run. */
export interface RunOptions {
  json: boolean;
  confirmName: string | undefined;
  breakGlass: boolean;
  actor: string;
}

/** A warning line on stderr, in the one CLI voice. */
export function warn(io: CliStreams, text: string): void {
  io.err.write(`dr: warning: ${text}\n`);
}

/** An internal error as the terminal shows it: its cause in one line, and where the full detail went. */
export function internalError(error: DrError, detailAt: string): DrError {
  const cause = error.cause === undefined ? error.userMessage : errorText(error.cause);
  const firstLine = cause.split('\n')[0]!.slice(0, 300);
  return new DrError('INTERNAL', `internal error: ${firstLine} (full detail in ${detailAt})`, { cause: error.cause });
}
