/** What `backups --rebuild` did, in one line (Slack and terminal alike). */
export function rebuiltLine(rebuilt: { recorded: number; dropped: readonly string[] }): string {
  const dropped = rebuilt.dropped.length
    ? ` Dropped ${rebuilt.dropped.length} whose manifests are gone from the repository: ${rebuilt.dropped.slice(0, 10).join(', ')}${rebuilt.dropped.length > 10 ? ', …' : ''}.`
    : '';
  return `Catalog rebuilt from the repository: ${rebuilt.recorded} backups.${dropped}`;
}
