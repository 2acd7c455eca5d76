import type { App, BlockAction, CheckboxesAction } from '@slack/bolt';
import type { DispatchDeps } from '../../commands/dispatch.ts';
import { RECOVERY_CHECKLIST, type ChecklistItemId } from '../../domain/incident.ts';
import { errorText } from '../../domain/errors.ts';
import { setChecklistItem } from '../../procedures/incidents.ts';
import { CHECKLIST_ACTION, CHECKLIST_BLOCK } from '../ids.ts';
import { checklistBlocks } from '../render/checklist.ts';

/** A click on the checklist: the group's ticks are stored (who, when) and the message re-rendered from the store. */
export function registerChecklistListeners(app: App, deps: DispatchDeps): void {
  app.action<BlockAction<CheckboxesAction>>(CHECKLIST_ACTION.toggle, async ({ ack, body, action, client }) => {
    await ack();
    const user = body.user.id;
    if (!(await deps.roles.holdsAny(user))) return;
    const incident = await deps.store.currentIncident();
    if (!incident) return;
    // The group's options are one runbook phase; those selected now are done, the others are not.
    const selected = new Set(action.selected_options.map((option) => option.value));
    const phaseItems = RECOVERY_CHECKLIST.filter((item) => CHECKLIST_BLOCK.phase(item.phase) === action.block_id);
    let current = incident;
    for (const item of phaseItems) {
      const done = selected.has(item.id);
      if (done !== Boolean(current.checklist?.[item.id])) current = await setChecklistItem(deps.incidents, incident.id, item.id as ChecklistItemId, done, user);
    }
    await deps.store.appendAudit({ source: 'slack', actor: user, channel: body.channel?.id ?? 'unknown', command: 'checklist', text: [...selected].join(','), outcome: 'ok', detail: { incident: incident.id } }).catch(() => {});
    const where = current.checklistMessage;
    if (where) await client.chat.update({ channel: where.channel, ts: where.ts, ...checklistBlocks(current) }).catch((error: unknown) => deps.logger.warn({ err: errorText(error) }, 'checklist not updated'));
  });
}
