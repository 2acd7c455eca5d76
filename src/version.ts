import { readFileSync } from 'node:fs';

/** The bot's own version (package.json), recorded in every backup manifest. */
export const BOT_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
