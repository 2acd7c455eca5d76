import Database from 'better-sqlite3';
import pg from 'pg';
import type { DocumentChecksums, RecordedDocument } from '../../ports/dms.ts';

/** `documents.checksum_sha256` by file path, read from the DMS database (SQLite read-only, or PostgreSQL). */
export class DatabaseDocumentChecksums implements DocumentChecksums {
  constructor(private readonly databaseUrl: string) {}

  async load(): Promise<Map<string, RecordedDocument>> {
    if (this.databaseUrl.startsWith('sqlite:')) {
      const db = new Database(this.databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
      try {
        const rows = db.prepare('select id, file_path, checksum_sha256 from documents').all() as Array<{ id: number; file_path: string; checksum_sha256: string }>;
        return new Map(rows.map((r) => [r.file_path, { id: Number(r.id), sha256: r.checksum_sha256.toLowerCase() }]));
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ id: number; file_path: string; checksum_sha256: string }>('select id, file_path, checksum_sha256 from documents');
      return new Map(rows.map((r) => [r.file_path, { id: Number(r.id), sha256: r.checksum_sha256.toLowerCase() }]));
    } finally {
      await client.end().catch(() => {});
    }
  }
}
