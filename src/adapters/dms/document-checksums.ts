import Database from 'better-sqlite3';
import pg from 'pg';
import type { DocumentChecksums } from '../../ports/dms.ts';

/** `documents.checksum_sha256` by file path, read from the DMS database (SQLite read-only, or PostgreSQL). */
export class DatabaseDocumentChecksums implements DocumentChecksums {
  constructor(private readonly databaseUrl: string) {}

  async load(): Promise<Map<string, string>> {
    if (this.databaseUrl.startsWith('sqlite:')) {
      const db = new Database(this.databaseUrl.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
      try {
        const rows = db.prepare('select file_path, checksum_sha256 from documents').all() as Array<{ file_path: string; checksum_sha256: string }>;
        return new Map(rows.map((r) => [r.file_path, r.checksum_sha256.toLowerCase()]));
      } finally {
        db.close();
      }
    }
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 10_000 });
    client.on('error', () => {});
    await client.connect();
    try {
      const { rows } = await client.query<{ file_path: string; checksum_sha256: string }>('select file_path, checksum_sha256 from documents');
      return new Map(rows.map((r) => [r.file_path, r.checksum_sha256.toLowerCase()]));
    } finally {
      await client.end().catch(() => {});
    }
  }
}
