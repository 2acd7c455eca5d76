import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const manifest = parse(readFileSync(path.join(ROOT, 'manifest.yml'), 'utf8'));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : /\.(ts|mjs)$/.test(name) ? [full] : [];
  });
}

describe('manifest.yml', () => {
  it('declares /dr with a usage hint, interactivity and App Home, all on /slack/events', () => {
    const command = manifest.features.slash_commands[0];
    expect(command.command).toBe('/dr');
    expect(command.usage_hint).toContain('status');
    expect(command.url).toMatch(/\/slack\/events$/);
    expect(manifest.settings.interactivity).toMatchObject({ is_enabled: true, request_url: expect.stringMatching(/\/slack\/events$/) });
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
    // The code listens for app_home_opened; Slack sends it only when subscribed.
    expect(manifest.settings.event_subscriptions).toMatchObject({ request_url: expect.stringMatching(/\/slack\/events$/), bot_events: ['app_home_opened'] });
  });

  it('asks for exactly the bot scopes the code uses', () => {
    const source = sourceFiles(path.join(ROOT, 'src')).map((f) => readFileSync(f, 'utf8')).join('\n');
    // Web API methods called anywhere in src, and the scopes each needs (history: public and private channels).
    const scopeOf: Record<string, string | string[]> = {
      'chat.postMessage': 'chat:write',
      'chat.update': 'chat:write',
      'chat.postEphemeral': 'chat:write',
      'files.uploadV2': 'files:write',
      'usergroups.users.list': 'usergroups:read',
      'users.info': 'users:read',
      'conversations.info': 'channels:read',
      'conversations.history': ['channels:history', 'groups:history'],
      'conversations.join': 'channels:join',
    };
    const used = new Set(['commands']);
    for (const [method, scope] of Object.entries(scopeOf)) {
      const dot = method.indexOf('.');
      const [family, name] = [method.slice(0, dot), method.slice(dot + 1)];
      // client.chat.postMessage(...) or the WebClient helper spelling client.filesUploadV2(...)
      const helper = `${family}${name[0]!.toUpperCase()}${name.slice(1)}`;
      if (new RegExp(`\\.${family}\\.${name.replace('.', '\\.')}\\(|\\.${helper}\\(`).test(source)) for (const each of [scope].flat()) used.add(each);
    }
    expect(new Set(manifest.oauth_config.scopes.bot)).toEqual(used);
  });
});
