import { DrError } from '../../domain/errors.ts';
import type { StateStore } from '../../ports/state-store.ts';

/** Stands in for a state store that could not be opened, so the break-glass CLI still runs: every use fails with the reason. */
export function unavailableStateStore(kind: StateStore['kind'], reason: string): StateStore {
  const fail = () => Promise.reject(new DrError('STATE_UNAVAILABLE', `The bot's state store (DR_STATE) is unavailable: ${reason}`));
  return { kind, ping: fail, checkHealth: fail, onFault: () => {}, appendAudit: fail, listAudit: fail, recordBackup: fail, claimSlot: fail, rememberRequests: fail, forgetRequest: fail, acquireLease: fail, releaseLease: fail, leaseHolder: fail, forgetBackup: fail, listCatalog: fail, createGate: fail, getGate: fail, listOpenGates: fail, updateGate: fail, createRun: fail, updateRun: fail, getRun: fail, listRuns: fail, getAlerts: fail, listAlerts: fail, changeAlerts: fail, alertMessage: fail, setAlertMessage: fail, setAlertMessages: fail, claimOutbox: fail, settleOutbox: fail, settleDelivered: fail, listOutbox: fail, outboxHealth: fail, listGroupAlerts: fail, countGroupAlerts: fail, pagerKeyState: fail, setPagerKeyState: fail, alertMessages: fail, saveDigest: fail, getDigest: fail, openIncident: fail, currentIncident: fail, getIncident: fail, updateIncident: fail, changeIncident: fail, enqueue: fail, incidentThread: fail, setIncidentThread: fail, installationKey: fail, close: async () => {} };
}
