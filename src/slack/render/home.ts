import type { HomeView, KnownBlock } from '@slack/types';
import type { AlertRecord } from '../../domain/alert.ts';
import type { Incident } from '../../domain/incident.ts';
import type { Run } from '../../domain/run.ts';
import { STATE_EMOJI, type StatusReport } from '../../domain/status.ts';
import { alertLines } from '../../render/plan.ts';
import { escapeInline, visibleText } from '../../render/mrkdwn.ts';
import { fitView } from './limits.ts';

/** What the App Home dashboard shows (DESIGN.md §8). */
export interface HomeDashboard {
  report: StatusReport;
  alerts: AlertRecord[];
  incident: Incident | undefined;
  lastDrill: Run | undefined;
  rtoMs: number;
  now: Date;
}

/** The live dashboard: components, backups and RPO exposure, firing alerts, the open incident, the last drill's RTO. */
export function homeView(d: HomeDashboard): HomeView {
  const probes = d.report.probes.map((p) => `${STATE_EMOJI[p.state]} *${escapeInline(p.title)}* — ${escapeInline(p.summary)}`);
  const alerts = d.alerts.length ? alertLines(d.alerts.slice(0, 20), d.now).map(escapeInline) : ['✅ No alert is firing.'];
  const incident = d.incident
    ? `${d.incident.kind === 'security' ? '🛡️' : '🔥'} \`${d.incident.id}\` ${escapeInline(d.incident.title)} — open since ${d.incident.declaredAt}`
    : 'No incident is open.';
  const drill = d.lastDrill
    ? `${d.lastDrill.status === 'succeeded' ? '✅' : '❌'} ${d.lastDrill.startedAt}: RTO ${Math.round(Number(d.lastDrill.summary.rtoMs ?? d.lastDrill.summary.durationMs ?? 0) / 1000)} s against ${Math.round(d.rtoMs / 3_600_000)} h`
    : '⚠️ No drill yet.';
  const section = (title: string, lines: string[]): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text: `*${title}*\n${lines.join('\n')}` } });
  return fitView<HomeView>({
    type: 'home',
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `${STATE_EMOJI[d.report.overall]} ${visibleText(d.report.system)} disaster recovery` } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: `As of ${d.report.at}. Type \`/dr help\` for every command.` }] },
      section('Components, backups and RPO exposure', probes),
      { type: 'divider' },
      section(`Firing alerts (${d.alerts.length})`, alerts),
      section('Incident', [incident]),
      section('Last drill', [drill]),
    ],
  });
}
