import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { openStateStore } from '../../src/adapters/state/kysely-store.ts';
import type { StateStore } from '../../src/ports/state-store.ts';

/** A fresh temp folder and SQLite state store for each test of the calling suite, removed after it. */
export interface TempStateStore {
  /** The test's temp folder (the store lives in it as state.db). */
  readonly dir: string;
  readonly store: StateStore;
}

/** Registers beforeEach/afterEach that give every test its own folder and state store; read them inside tests. */
export function useTempStateStore(prefix: string): TempStateStore {
  let current: { dir: string; store: StateStore } | undefined;
  beforeEach(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), `${prefix}-`));
    current = { dir, store: await openStateStore(path.join(dir, 'state.db')) };
  });
  afterEach(async () => {
    if (!current) return;
    await current.store.close();
    await rm(current.dir, { recursive: true, force: true });
    current = undefined;
  });
  const get = () => {
    if (!current) throw new Error('useTempStateStore: read it inside a test');
    return current;
  };
  return {
    get dir() {
      return get().dir;
    },
    get store() {
      return get().store;
    },
  };
}
