import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { removeAbandonedStaging, stagedName } from '../../../src/adapters/repository/local-backup-repository.ts';
import { processAlive } from '../../../src/adapters/process-owner.ts';

describe('staging leftovers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'dr-staging-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('removes what dead processes staged and keeps what live processes are writing', async () => {
    const mine = stagedName('db.dump');
    const dead = `${hostname()}.999999.abcdef012345-db.dump`;
    const legacy = 'abcdef012345-db.dump';
    const foreignFresh = 'other-host.example.42.abcdef012345-object';
    const foreignOld = 'other-host.example.43.abcdef012345-object';
    for (const name of [mine, dead, legacy, foreignFresh, foreignOld]) await writeFile(path.join(dir, name), 'x');
    const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
    await utimes(path.join(dir, foreignOld), twoDaysAgo, twoDaysAgo);

    expect(await removeAbandonedStaging(dir)).toBe(3);
    expect((await readdir(dir)).sort()).toEqual([foreignFresh, mine].sort());
  });

  it('knows this process is alive, a dead pid is not, and another host cannot be asked', () => {
    expect(processAlive(`${hostname()}.${process.pid}`)).toBe(true);
    expect(processAlive(`${hostname()}:${process.pid}:abc`)).toBe(true);
    expect(processAlive(`${hostname()}.999999`)).toBe(false);
    expect(processAlive('some-other-host.1234')).toBeUndefined();
  });
});
