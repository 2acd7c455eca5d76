// Sandbox DMS command line. dr.yml's service.stop/start/migrate/logs run this file, so every
// command takes the sandbox directory explicitly and works from any working directory.
//   node --import tsx sandbox/cli.ts create DIR [--postgres] [--documents N] ...
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import {
  ageBackups,
  createSandbox,
  corruptDatabase,
  destroySandbox,
  FAULT_NAMES,
  migrateDatabase,
  openSandbox,
  readFaults,
  readManifest,
  serverRunning,
  setFault,
  startServerProcess,
  stopServerProcess,
} from './sandbox.ts';
import type { FaultName } from './sandbox.ts';

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expects a whole number >= 0');
  return n;
};

/** Builds the commander program (exported so tests could drive it without a subprocess). */
export function program(): Command {
  const cli = new Command('sandbox').description('Sandbox Alphha DMS for dr-bot tests and demos').showHelpAfterError();

  cli.command('create').argument('<dir>', 'directory to create the sandbox in')
    .option('--postgres', 'use a fresh PostgreSQL database instead of SQLite')
    .option('--admin-url <url>', 'PostgreSQL admin URL used to create the database')
    .option('--tenants <n>', 'tenants', int).option('--users <n>', 'users', int)
    .option('--documents <n>', 'documents', int).option('--seed <n>', 'seed for the content', int)
    .option('--start', 'start the health server afterwards')
    .description('create a sandbox; prints the path of its dr.yml')
    .action(async (dir: string, o: { postgres?: boolean; adminUrl?: string; tenants?: number; users?: number; documents?: number; seed?: number; start?: boolean }) => {
      const sb = await createSandbox({
        dir,
        database: o.postgres ? 'postgres' : 'sqlite',
        ...(o.adminUrl !== undefined ? { postgresAdminUrl: o.adminUrl } : {}),
        ...(o.tenants !== undefined ? { tenants: o.tenants } : {}),
        ...(o.users !== undefined ? { users: o.users } : {}),
        ...(o.documents !== undefined ? { documents: o.documents } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
      });
      if (o.start) await sb.startServer();
      console.log(sb.configPath);
    });

  cli.command('serve').argument('<dir>').description('run the health + metrics server in the foreground')
    .action(async (dir: string) => {
      const { serve } = await import('./server.ts'); // prom-client only loads where it is needed
      await serve(dir);
    });

  cli.command('start').argument('<dir>').description('start the server in the background; waits for health')
    .action(async (dir: string) => {
      const m = await readManifest(dir);
      await startServerProcess(m);
      console.log(`sandbox server running on ${m.healthUrl}`);
    });

  cli.command('stop').argument('<dir>').description('stop the background server (exit 0 if not running)')
    .action(async (dir: string) => {
      const m = await readManifest(dir);
      const was = await serverRunning(m);
      await stopServerProcess(m);
      console.log(was ? 'sandbox server stopped' : 'sandbox server was not running');
    });

  cli.command('status').argument('<dir>').description('print server state, URLs and faults as JSON')
    .action(async (dir: string) => {
      const m = await readManifest(dir);
      const out = { running: await serverRunning(m), kind: m.kind, databaseUrl: m.databaseUrl, healthUrl: m.healthUrl,
        metricsUrl: m.metricsUrl, configPath: m.configPath, faults: await readFaults(m.faultsFile) };
      console.log(JSON.stringify(out, null, 2));
    });

  cli.command('fault').argument('<dir>').argument('<name>', `${FAULT_NAMES.join(' | ')} | clear`).argument('[value]')
    .description('set a fault (db_down true|false, error_rate %, latency s, failed_logins per scrape) or clear all')
    .action(async (dir: string, name: string, value: string | undefined) => {
      if (name === 'clear') {
        await (await openSandbox(dir)).clearFaults();
        console.log('faults cleared');
        return;
      }
      const m = await readManifest(dir);
      if (!(FAULT_NAMES as readonly string[]).includes(name)) throw new Error(`unknown fault ${name}; one of ${FAULT_NAMES.join(', ')}, clear`);
      if (value === undefined) throw new Error(`fault ${name} needs a value`);
      const parsed = name === 'db_down'
        ? ['true', '1', 'on', 'yes'].includes(value.toLowerCase())
          ? true
          : ['false', '0', 'off', 'no'].includes(value.toLowerCase()) ? false : undefined
        : Number(value);
      if (parsed === undefined || (typeof parsed === 'number' && !Number.isFinite(parsed))) {
        throw new Error(`bad value for ${name}: ${value}`);
      }
      await setFault(m, name as FaultName, parsed);
      console.log(`${name} = ${String(parsed)}`);
    });

  cli.command('migrate').argument('<dir>').description('create missing DMS tables (stand-in for alembic upgrade head)')
    .action(async (dir: string) => {
      await migrateDatabase(await readManifest(dir));
      console.log('schema up to date');
    });

  cli.command('logs').argument('<dir>').option('-n, --lines <n>', 'lines to print', int, 100)
    .description('print the tail of the server log')
    .action(async (dir: string, o: { lines: number }) => {
      const m = await readManifest(dir);
      const text = await readFile(m.logFile, 'utf8').catch(() => '');
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      console.log(lines.slice(-o.lines).join('\n'));
    });

  cli.command('corrupt').argument('<dir>').description('damage the SQLite database file (for DB-corruption drills)')
    .action(async (dir: string) => {
      await corruptDatabase(await readManifest(dir));
      console.log('database corrupted');
    });

  cli.command('age-backups').argument('<dir>').argument('<hours>', 'how many hours older every backup should look')
    .description('make the backups in the sandbox repository look older (stale backups: RPO and retention alerts)')
    .action(async (dir: string, hours: string) => {
      const h = Number(hours);
      if (!Number.isFinite(h) || h < 0) throw new Error(`bad number of hours: ${hours}`);
      const aged = await ageBackups(await readManifest(dir), h * 3_600_000);
      console.log(`${aged} backups now look ${h} h older; rebuild dr-bot's catalog to see it (/dr backups --rebuild)`);
    });

  cli.command('destroy').argument('<dir>').description('stop the server, drop the database, remove the directory')
    .action(async (dir: string) => {
      await destroySandbox(await readManifest(dir));
      console.log('sandbox destroyed');
    });

  return cli;
}

// Only run when executed directly, not when imported.
// realpath both sides: the main module's URL is resolved through symlinks, argv[1] is not.
const isMain = (() => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (isMain) {
  program().parseAsync(process.argv).catch((err: unknown) => {
    console.error(`sandbox: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
