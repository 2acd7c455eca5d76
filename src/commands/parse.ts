import { closest, distance } from 'fastest-levenshtein';
import { DrError } from '../domain/errors.ts';
import { COMMANDS } from './registry.ts';
import type { CommandDefinition, ParseContext } from './types.ts';

/** Longer text than any command needs is refused before it is looked at. */
export const MAX_COMMAND_LENGTH = 1_000;

/** A command found in the registry, with its arguments parsed. */
export interface ParsedCommand {
  definition: CommandDefinition;
  args: unknown;
}

/** Turns `/dr` text into a registered command; throws DrError (unknown, malformed, too long) and never guesses. */
export function parseCommand(text: string, context?: ParseContext): ParsedCommand {
  if (text.length > MAX_COMMAND_LENGTH) {
    throw new DrError('COMMAND_TOO_LONG', `That is ${text.length} characters; /dr commands are short (at most ${MAX_COMMAND_LENGTH}). Nothing was run.`, { hint: 'help' });
  }
  const words = text.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return parseCommand('help');

  const first = words[0]!.toLowerCase();
  const second = words[1]?.toLowerCase();
  const twoWord = second === undefined ? undefined : COMMANDS.find((c) => c.name === `${first} ${second}`);
  const definition = twoWord ?? COMMANDS.find((c) => c.name === first);
  if (!definition) throw unknownCommand(first, second);

  const args = words.slice(definition.name.split(' ').length);
  return { definition, args: definition.parse ? definition.parse(args, context) : args };
}

function unknownCommand(first: string, second: string | undefined): DrError {
  const family = COMMANDS.filter((c) => c.name.startsWith(`${first} `));
  if (family.length > 0) {
    // `restore foo`: the first word is right, the second is not. A destructive guess only for a near-miss.
    const names = family.map((c) => c.name);
    const guess = second ? closest(`${first} ${second}`, names) : names[0]!;
    const risky = family.some((c) => c.risk === 'destructive');
    const near = second !== undefined && distance(second, guess.split(' ')[1]!) <= 2;
    return new DrError('COMMAND_MALFORMED', `\`${first}\` needs one of: ${family.map((c) => c.name.split(' ')[1]).join(', ')}. Nothing was run.`, { hint: risky && !near ? 'help' : guess });
  }
  return new DrError('COMMAND_UNKNOWN', `\`${printable(first)}\` is not a /dr command. Nothing was run.`, { hint: suggestionFor(first) });
}

/** The command a typo most likely meant; a destructive one only when the typo is a near-miss of its name. */
function suggestionFor(word: string): string {
  const usageOf = (name: string) => COMMANDS.find((c) => c.name.startsWith(name))?.usage ?? name;
  const firstWords = (risky: boolean) => [...new Set(COMMANDS.filter((c) => (c.risk === 'destructive') === risky).map((c) => c.name.split(' ')[0]!))];
  const safe = closest(word, firstWords(false));
  const destructive = closest(word, firstWords(true));
  const nearMiss = distance(word, destructive) <= 2 && distance(word, destructive) < distance(word, safe);
  return usageOf(nearMiss ? destructive : safe);
}

// Echoing user text back: keep it short and free of Slack mention/markup syntax.
function printable(word: string): string {
  const clipped = word.length > 40 ? `${word.slice(0, 40)}…` : word;
  return clipped.replace(/[<>&`*_~]/g, '');
}
