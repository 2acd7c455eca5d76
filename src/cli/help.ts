import { closest } from 'fastest-levenshtein';
import { DrError } from '../domain/errors.ts';
import { COMMANDS } from '../commands/registry.ts';
import type { CommandDefinition } from '../commands/types.ts';

/** What each risk class means at a terminal, shown in a command's own help. */
const RISK_TEXT = {
  read: 'read: changes nothing; anyone may run it.',
  operate: 'operate: changes nothing live; needs a role in slack.roles when run from Slack.',
  destructive:
    'destructive: shows a plan and runs nothing until the system name is typed (or given with --confirm NAME); plans that need approvals wait for them (exit 3) unless --break-glass, which is audited and announced.',
} as const;

const GLOBAL_FLAGS = [
  '  --json             one JSON document on stdout, success or error',
  '  --config PATH      the YAML config (same as DR_CONFIG)',
  '  --confirm NAME     confirm a destructive plan by its system name instead of typing it',
  '  --break-glass      skip the approvals of a destructive plan (audited, announced in Slack)',
  '  -V, --version      print the version',
  '  -h, --help         this text; `dr COMMAND --help` for one command',
];

const EXIT_CODES = [
  '  0  ok',
  '  1  done, but something is wrong (degraded status, damaged documents, broken audit chain, a failed backup kind)',
  '  2  refused or failed (bad input, error)',
  '  3  waiting for approvals',
];

/** The whole grammar, generated from the command registry, with the CLI's flags and exit codes. */
export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.usage.length));
  const lines = COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary} (${c.risk})`);
  return [
    'dr — disaster recovery for Alphha DMS',
    '',
    'Usage: dr COMMAND [ARGS] [--json] [--config PATH]',
    '',
    'Commands:',
    ...lines,
    `  ${'completion bash|zsh'.padEnd(width)}  print a shell completion script`,
    '',
    'Options:',
    ...GLOBAL_FLAGS,
    '',
    'Exit codes:',
    ...EXIT_CODES,
    '',
    'Environment: DR_CONFIG (default ./dr.yml), DR_STATE (default ./data/dr-state.db), LOG_LEVEL (debug: log to stderr).',
    '',
  ].join('\n');
}

/** `dr COMMAND --help`, `dr COMMAND -h` or `dr help COMMAND`: asks about a command, never runs it. */
export function isHelpRequest(words: readonly string[]): boolean {
  return words.some((w) => w === '--help' || w === '-h') || (words[0] === 'help' && words.length > 1);
}

/** One command's (or one family's) usage; an unknown name is an error that suggests only non-destructive commands. */
export function commandHelp(words: readonly string[]): string | DrError {
  const asked = (words[0] === 'help' ? words.slice(1) : words).map((w) => w.toLowerCase());
  const [first, second] = asked;
  if (first === undefined) return helpText();
  const exact = second === undefined ? undefined : COMMANDS.find((c) => c.name === `${first} ${second}`);
  const matches = exact ? [exact] : COMMANDS.filter((c) => c.name === first || c.name.startsWith(`${first} `));
  if (matches.length === 0) {
    const safe = COMMANDS.filter((c) => c.risk !== 'destructive').map((c) => c.name.split(' ')[0]!);
    return new DrError('COMMAND_UNKNOWN', `\`${first.slice(0, 40).replace(/[^\w-]/g, '')}\` is not a dr command, so there is no help for it. Nothing was run.`, { hint: `help ${closest(first, safe)}` });
  }
  return `${matches.map(describe).join('\n')}\n${['Options:', ...GLOBAL_FLAGS].join('\n')}\n`;
}

function describe(command: CommandDefinition): string {
  return [`Usage: dr ${command.usage}`, '', `  ${command.summary}`, `  Risk: ${RISK_TEXT[command.risk]}`, ''].join('\n');
}

/** Words that may follow a command's first word, from the registry's usage strings (placeholders left out). */
function completionsAfter(): Map<string, string[]> {
  const next = new Map<string, Set<string>>();
  for (const command of COMMANDS) {
    const [first, ...rest] = command.usage.split(' ');
    const words = next.get(first!) ?? new Set<string>();
    next.set(first!, words);
    const second = command.name.split(' ')[1] ?? rest[0];
    if (second === undefined) continue;
    for (const option of second.replace(/^\[|\]$/g, '').split('|')) {
      if (/^[a-z][a-z-]*$/.test(option)) words.add(option);
    }
    for (const flag of command.usage.match(/--[a-z-]+/g) ?? []) words.add(flag);
  }
  return new Map([...next].map(([k, v]) => [k, [...v]]));
}

/** A bash or zsh completion script for `dr`, from the registry. */
export function completionScript(shell: string | undefined): string | undefined {
  if (shell !== 'bash' && shell !== 'zsh') return undefined;
  const after = completionsAfter();
  const firsts = [...after.keys(), 'completion', '--json', '--config', '--version', '--help'];
  const cases = [...after]
    .filter(([, words]) => words.length > 0)
    .map(([first, words]) => `    ${first}) COMPREPLY=( $(compgen -W "${words.join(' ')}" -- "$cur") ) ;;`);
  cases.push('    completion) COMPREPLY=( $(compgen -W "bash zsh" -- "$cur") ) ;;');
  const body = [
    '# dr completion: source it, e.g. `dr completion bash >> ~/.bashrc`',
    ...(shell === 'zsh' ? ['autoload -U +X bashcompinit && bashcompinit'] : []),
    '_dr_complete() {',
    '  local cur="${COMP_WORDS[COMP_CWORD]}"',
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=( $(compgen -W "${firsts.join(' ')}" -- "$cur") )`,
    '    return',
    '  fi',
    '  case "${COMP_WORDS[1]}" in',
    ...cases,
    '  esac',
    '}',
    'complete -F _dr_complete dr',
    '',
  ];
  return body.join('\n');
}
