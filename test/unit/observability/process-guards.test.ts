import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FATAL_EXIT_CODE, installProcessGuards } from '../../../src/observability/process-guards.ts';
import { captureLogs } from '../../helpers/logs.ts';

function guarded() {
  const target = new EventEmitter();
  const { logger, lines } = captureLogs();
  const exits: Array<{ message: string; code: number }> = [];
  let clock = 0;
  installProcessGuards(target, logger, (message, code) => exits.push({ message, code }), () => clock);
  return { target, lines, exits, advance: (ms: number) => (clock += ms) };
}

describe('process guards', () => {
  it('logs an unhandled rejection and an uncaught exception, and keeps the process', () => {
    const { target, lines, exits } = guarded();
    target.emit('unhandledRejection', new TypeError("Cannot read properties of null (reading 'ssl_check')"));
    target.emit('unhandledRejection', 'a bare string');
    target.emit('uncaughtException', new Error('listener blew up'));
    expect(exits).toEqual([]);
    expect(lines.map((l) => [l.msg, (l.err as { message: string }).message])).toEqual([
      ['unhandled promise rejection; the bot keeps serving', "Cannot read properties of null (reading 'ssl_check')"],
      ['unhandled promise rejection; the bot keeps serving', 'a bare string'],
      ['uncaught exception; the bot keeps serving', 'listener blew up'],
    ]);
  });

  it('exits 70 with a clear message on a fatal error (the listener lost its port)', () => {
    const { target, lines, exits } = guarded();
    target.emit('uncaughtException', Object.assign(new Error('listen EADDRINUSE: address already in use :::3000'), { code: 'EADDRINUSE' }));
    expect(exits).toHaveLength(1);
    expect(exits[0]!.code).toBe(FATAL_EXIT_CODE);
    expect(exits[0]!.message).toMatch(/^dr-bot: exiting: fatal error EADDRINUSE: listen EADDRINUSE.*supervisor should restart it/);
    expect(lines.at(-1)).toMatchObject({ level: 60 });
  });

  it('exits when uncaught exceptions keep coming (20 within a minute), not for the same number spread out', () => {
    const spread = guarded();
    for (let i = 0; i < 40; i += 1) {
      spread.target.emit('uncaughtException', new Error(`boom ${i}`));
      spread.advance(5_000);
    }
    expect(spread.exits).toEqual([]);
    const storm = guarded();
    for (let i = 0; i < 19; i += 1) storm.target.emit('uncaughtException', new Error(`boom ${i}`));
    expect(storm.exits).toEqual([]);
    storm.target.emit('uncaughtException', new Error('boom 19'));
    expect(storm.exits.map((e) => e.message)).toEqual(['dr-bot: exiting: 20 uncaught exceptions within 60 s, the last: boom 19. Its supervisor should restart it.\n']);
  });
});
