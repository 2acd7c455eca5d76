import { describe, expect, it } from 'vitest';
import { MAX_COMMAND_LENGTH, parseCommand } from '../../../src/commands/parse.ts';
import { COMMANDS, helpEntries } from '../../../src/commands/registry.ts';
import { DrError } from '../../../src/domain/errors.ts';

function refusal(text: string): DrError {
  try {
    parseCommand(text);
  } catch (error) {
    if (error instanceof DrError) return error;
    throw error;
  }
  throw new Error(`"${text}" parsed, but should have been refused`);
}

describe('parseCommand', () => {
  it.each([
    ['status', 'status'],
    ['  STATUS  ', 'status'],
    ['', 'help'],
    ['   ', 'help'],
    ['help', 'help'],
    ['history', 'history'],
    ['restore db latest', 'restore db'],
    ['restore undo', 'restore undo'],
    ['incident declare DB down again', 'incident declare'],
    ['verify backup db-20261126T030000Z-3f9a', 'verify backup'],
  ])('finds %j as %s', (text, name) => {
    expect(parseCommand(text).definition.name).toBe(name);
  });

  it('parses history arguments', () => {
    expect(parseCommand('history').args).toEqual({ limit: 20, verify: false });
    expect(parseCommand('history 5 --verify').args).toEqual({ limit: 5, verify: true });
    expect(refusal('history 0').code).toBe('COMMAND_MALFORMED');
    expect(refusal('history lots').userMessage).toContain('not "lots"');
  });

  it('refuses arguments a command does not take', () => {
    expect(refusal('status now').code).toBe('COMMAND_MALFORMED');
  });

  it('names the closest command for a typo', () => {
    expect(refusal('stauts')).toMatchObject({ code: 'COMMAND_UNKNOWN', hint: 'status' });
    expect(refusal('histroy').hint).toBe('history [N] [--verify]');
    expect(refusal('status; rm -rf /')).toMatchObject({ code: 'COMMAND_UNKNOWN', hint: 'status' });
    expect(refusal('$(reboot)').code).toBe('COMMAND_UNKNOWN');
  });

  it('names the family when the second word is wrong or missing', () => {
    expect(refusal('restore dbb')).toMatchObject({ code: 'COMMAND_MALFORMED', hint: 'restore db' });
    expect(refusal('restore').userMessage).toContain('needs one of: db, storage, all, undo');
  });

  it('refuses text longer than the limit without looking at it', () => {
    expect(refusal('x'.repeat(MAX_COMMAND_LENGTH + 1)).code).toBe('COMMAND_TOO_LONG');
    expect(parseCommand(`status${' '.repeat(MAX_COMMAND_LENGTH - 6)}`).definition.name).toBe('status');
  });

  it('never echoes markup back', () => {
    expect(refusal('<!channel>').userMessage).not.toMatch(/[<>]/);
    expect(refusal(`${'a'.repeat(200)}`).userMessage.length).toBeLessThan(120);
  });
});

describe('the registry', () => {
  it('covers the whole grammar of DESIGN.md §4 exactly once', () => {
    const usages = helpEntries().map((e) => e.usage);
    expect(usages).toEqual([
      'help', 'status', 'backup [db|storage|config|all]', 'backups [db|storage|config] [--verify] [--rebuild]', 'restore db [latest|ID]',
      'restore storage [latest|ID]', 'restore all', 'restore undo', 'isolate', 'rotate-secrets [KEY ...]',
      'verify checksums', 'verify backup [ID]', 'audit [DURATION]', 'history [N] [--verify]', 'drill', 'alerts',
      'incident declare TITLE', 'incident update TEXT', 'incident resolve', 'incident notify security|legal|tenants', 'checklist',
    ]);
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
  });

  it('puts every command in its DESIGN.md risk class', () => {
    const risk = Object.fromEntries(COMMANDS.map((c) => [c.name, c.risk]));
    for (const name of ['help', 'status', 'backups', 'alerts', 'history']) expect(risk[name]).toBe('read');
    for (const name of ['backup', 'verify checksums', 'verify backup', 'audit', 'drill', 'incident declare', 'checklist']) expect(risk[name]).toBe('operate');
    for (const name of ['restore db', 'restore storage', 'restore all', 'restore undo', 'isolate', 'rotate-secrets']) expect(risk[name]).toBe('destructive');
  });

  it('has every command of the grammar built', () => {
    expect(helpEntries().filter((e) => !e.built).map((e) => e.usage)).toEqual([]);
  });
});
