import type { DocumentChecksums, RecordedDocument } from '../../ports/dms.ts';
import { queryDms } from './dms-query.ts';

/** `documents.checksum_sha256` by file path, read from the DMS database (SQLite read-only, or PostgreSQL). */
export class DatabaseDocumentChecksums implements DocumentChecksums {
  constructor(private readonly databaseUrl: string) {}

  async load(): Promise<Map<string, RecordedDocument>> {
    const sql = 'select id, file_path, checksum_sha256 from documents';
    const rows = await queryDms<{ id: number; file_path: string; checksum_sha256: string }>(this.databaseUrl, { sqlite: sql, postgres: sql });
    return new Map(rows.map((r) => [r.file_path, { id: Number(r.id), sha256: r.checksum_sha256.toLowerCase() }]));
  }
}
