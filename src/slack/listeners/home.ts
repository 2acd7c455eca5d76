import type { App } from '@slack/bolt';
import type { DispatchDeps } from '../../commands/dispatch.ts';
import { errorText } from '../../domain/errors.ts';
import { homeView } from '../render/home.ts';

/** App Home: whoever opens it gets the live dashboard, collected then (status shared with concurrent asks). */
export function registerHomeListener(app: App, deps: DispatchDeps): void {
  app.event('app_home_opened', async ({ event, client }) => {
    if (event.tab !== 'home') return;
    try {
      const [report, alerts, incident, drills] = await Promise.all([
        deps.currentStatus(),
        deps.store.listAlerts({ states: ['firing', 'acknowledged'], limit: 50 }),
        deps.store.currentIncident(),
        deps.store.listRuns({ procedure: 'drill', limit: 1 }),
      ]);
      await client.views.publish({ user_id: event.user, view: homeView({ report, alerts, incident, lastDrill: drills[0], rtoMs: deps.config.objectives.rto, now: new Date() }) });
    } catch (error) {
      deps.logger.warn({ err: errorText(error), user: event.user }, 'App Home not published');
    }
  });
}
