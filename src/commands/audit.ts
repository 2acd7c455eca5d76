import { stringify } from 'csv-stringify/sync';
import { formatDuration, parseDuration } from '../config/duration.ts';
import { DrError } from '../domain/errors.ts';
import { defineCommand } from './types.ts';

// A ledger export is for an incident, not an archive dump: a year is the most anyone needs at once.
const MAX_RANGE_MS = 366 * 86_400_000;

/** `/dr audit [DURATION]`: the DMS audit ledger since DURATION ago (default 24h), as CSV. */
export const auditCommand = defineCommand({
  name: 'audit',
  usage: 'audit [DURATION]',
  summary: 'DMS audit_ledger rows since DURATION (default 24h; e.g. 30m, 24h, 7d) as CSV',
  risk: 'operate',
  parse: (args) => {
    const text = args[0] ?? '24h';
    const ms = args.length > 1 ? undefined : parseDuration(text);
    if (ms === undefined || ms <= 0 || !/^\d+(m|h|d|w)$/.test(text)) {
      throw new DrError('COMMAND_MALFORMED', `\`audit\` takes one duration such as 30m, 24h or 7d, not "${args.join(' ').slice(0, 30).replace(/[<>&`]/g, '')}". Nothing was run.`, { hint: 'audit 24h' });
    }
    if (ms > MAX_RANGE_MS) throw new DrError('COMMAND_MALFORMED', `\`audit\` covers at most ${formatDuration(MAX_RANGE_MS)}. Nothing was run.`, { hint: 'audit 7d' });
    return { ms, text };
  },
  run: async (deps, { ms }) => {
    const until = deps.status.now();
    const from = new Date(until.getTime() - ms);
    const rows = await deps.auditLedger.since(from);
    const csv = stringify(rows, { header: true, columns: ['id', 'created_at', 'actor', 'action', 'detail'] });
    return { kind: 'audit', from: from.toISOString(), until: until.toISOString(), rowCount: rows.length, csv };
  },
});
