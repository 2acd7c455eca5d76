import { mapDocumentPath, type DocumentLayout } from '../../domain/document-paths.ts';
import type { DocumentChecksums, RecordedDocument } from '../../ports/dms.ts';
import { queryDmsTuples } from './dms-query.ts';

/** `documents.checksum_sha256` by storage path, read from the DMS database (SQLite read-only, or PostgreSQL). */
export class DatabaseDocumentChecksums implements DocumentChecksums {
  /** `layout`: where `documents.file_path` points (relative, or absolute under the root or the DMS's prefix). */
  constructor(private readonly databaseUrl: string, private readonly layout: DocumentLayout = {}) {}

  async load(): Promise<Map<string, RecordedDocument>> {
    // Lower-cased by the database, in one pass over the rows there.
    const sql = 'select id, file_path, lower(checksum_sha256) as sha256 from documents';
    // Tuples, not row objects: the whole table is read on every snapshot, and this is its hot loop.
    const rows = await queryDmsTuples<[id: number | string, filePath: string | null, sha256: string]>(this.databaseUrl, { sqlite: sql, postgres: sql });
    const recorded = new Map<string, RecordedDocument>();
    for (const [id, filePath, sha256] of rows) {
      const mapped = mapDocumentPath(filePath ?? '', this.layout);
      if (mapped.escapes === undefined) recorded.set(mapped.relative, { id: Number(id), sha256 });
      else recorded.set(filePath ?? '', { id: Number(id), sha256, escapes: mapped.escapes });
    }
    return recorded;
  }
}
