import type { DocumentChecksums, RecordedDocument } from '../../ports/dms.ts';
import { queryDms } from './dms-query.ts';

/** `documents.checksum_sha256` by file path, read from the DMS database (SQLite read-only, or PostgreSQL). */
export class DatabaseDocumentChecksums implements DocumentChecksums {
  constructor(private readonly databaseUrl: string) {}

  async load(): Promise<Map<string, RecordedDocument>> {
    // Lower-cased by the database, in one pass over the rows there.
    const sql = 'select id, file_path, lower(checksum_sha256) as sha256 from documents';
    const rows = await queryDms<{ id: number; file_path: string; sha256: string }>(this.databaseUrl, { sqlite: sql, postgres: sql });
    const recorded = new Map<string, RecordedDocument>();
    for (const row of rows) recorded.set(row.file_path, { id: Number(row.id), sha256: row.sha256 });
    return recorded;
  }
}
