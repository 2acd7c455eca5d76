import { pino, type Logger } from 'pino';

/** Fields that must never reach a log line, whatever a caller passes. */
const REDACT = ['*.token', '*.password', '*.secret', '*.authorization', 'headers.authorization', 'headers["x-slack-signature"]', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET'];

/** The process logger: JSON lines on stderr (stdout stays for CLI output). */
export function createLogger(level: string, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({ level, base: { app: 'dr-bot' }, redact: { paths: REDACT, censor: '[redacted]' } }, destination as pino.DestinationStream);
}

/** A logger that appends JSON lines to `file` (mode 0600): the CLI's log, so stderr stays for people. */
export function createFileLogger(level: string, file: string): { logger: Logger; close: () => void } {
  const destination = pino.destination({ dest: file, sync: true, mkdir: false, mode: 0o600 });
  const logger = pino({ level, base: { app: 'dr-bot', cli: true }, redact: { paths: REDACT, censor: '[redacted]' } }, destination);
  return { logger, close: () => destination.end() };
}

/** Bolt's and the Web API's logger interface, backed by pino. */
export interface SlackLogger {
  debug(...msg: unknown[]): void;
  info(...msg: unknown[]): void;
  warn(...msg: unknown[]): void;
  error(...msg: unknown[]): void;
  setLevel(level: string): void;
  getLevel(): string;
  setName(name: string): void;
}

/** Adapts pino to the logger shape Bolt and WebClient expect (variadic messages, setLevel). */
export function slackLogger(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'slack' });
  const line = (msg: unknown[]) => msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' ');
  // Bolt logs several debug lines per request: format them only when the level lets them through.
  const at = (level: 'debug' | 'info' | 'warn' | 'error') => (...msg: unknown[]) => {
    if (child.isLevelEnabled(level)) child[level](line(msg));
  };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    // The level is pino's, set once from LOG_LEVEL; Bolt's attempts to change it are ignored.
    setLevel: () => {},
    getLevel: () => child.level,
    setName: () => {},
  };
}
