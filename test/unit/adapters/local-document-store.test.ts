import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDocumentStore } from '../../../src/adapters/storage/local-document-store.ts';

describe('LocalDocumentStore.probe', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'dr-uploads-'));
    for (let folder = 0; folder < 5; folder += 1) {
      await mkdir(path.join(root, `t${folder}`));
      for (let file = 0; file < 4; file += 1) await writeFile(path.join(root, `t${folder}`, `f${file}`), 'x');
    }
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('counts every file and reads the filesystem figures', async () => {
    const facts = await new LocalDocumentStore(root).probe(new AbortController().signal);
    expect(facts).toMatchObject({ kind: 'local', fileCount: 20, fileCountComplete: true });
    if (facts.kind === 'local') expect(facts.usedPct).toBeGreaterThan(0);
  });

  it('reports a lower bound when counting runs out of budget, keeping the disk figures', async () => {
    const facts = await new LocalDocumentStore(root, -1).probe(new AbortController().signal);
    expect(facts).toMatchObject({ kind: 'local', fileCountComplete: false });
    if (facts.kind === 'local') expect(facts.fileCount).toBeLessThan(20);
  });

  it('says plainly when the folder does not exist', async () => {
    await expect(new LocalDocumentStore(path.join(root, 'missing')).probe(new AbortController().signal)).rejects.toThrow(/uploads folder .*missing does not exist/);
  });
});
