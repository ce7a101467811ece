/** Every key the bot writes starts with this prefix, so one Redis can be shared safely. */
export const KEY_PREFIX = 'mlops';

export const keys = {
  run: (runKey: string) => `${KEY_PREFIX}:run:${runKey}`,
  runMessage: (runKey: string) => `${KEY_PREFIX}:run:${runKey}:message`,
  runLock: (runKey: string) => `${KEY_PREFIX}:lock:run:${runKey}`,
  episode: (resourceId: string) => `${KEY_PREFIX}:episode:${resourceId}`,
  alias: (resourceId: string) => `${KEY_PREFIX}:alias:${resourceId}`,
  trainDedupe: (fingerprint: string) => `${KEY_PREFIX}:train-dedupe:${fingerprint}`,
  /** Held for `retrain.cooldown` after each retrain of a model: an alarm may not start another meanwhile. */
  retrainCooldown: (model: string) => `${KEY_PREFIX}:retrain:cooldown:${model}`,
  /** The run key of the model's latest retrain. */
  retrainLatest: (model: string) => `${KEY_PREFIX}:retrain:latest:${model}`,
  /** Set once an alarm episode's thread was told why an automatic retrain of the model was skipped. */
  retrainSkipNoted: (alarmRunKey: string, model: string) => `${KEY_PREFIX}:retrain:skip-noted:${model}:${alarmRunKey}`,
  pendingApprovals: () => `${KEY_PREFIX}:approvals:pending`,
  recentRuns: () => `${KEY_PREFIX}:runs:recent`,
  targetRuns: (target: string) => `${KEY_PREFIX}:runs:target:${target}`,
  rateLimit: (bucket: string) => `${KEY_PREFIX}:ratelimit:${bucket}`,
  waitingRoots: (channel: string) => `${KEY_PREFIX}:slack:waiting-roots:${channel}`,
  groupMembers: (groupId: string) => `${KEY_PREFIX}:usergroup:${groupId}`,
  audit: () => `${KEY_PREFIX}:audit`,
  slackEvent: (eventId: string) => `${KEY_PREFIX}:slack-event:${eventId}`,
  slackTrigger: (triggerId: string) => `${KEY_PREFIX}:slack-trigger:${triggerId}`,
  /** Users who switched direct messages off (`/mlops dm off`). */
  dmOff: () => `${KEY_PREFIX}:dm:off`,
  dmChannel: (userId: string) => `${KEY_PREFIX}:dm:channel:${userId}`,
  dmSent: (key: string) => `${KEY_PREFIX}:dm:sent:${key}`,
  /** Users who opened the Home tab, scored by when they last did. */
  homeViewers: () => `${KEY_PREFIX}:home:viewers`,
  /** The answer to a user's last click on their Home tab, shown at its top for a while. */
  homeNotice: (userId: string) => `${KEY_PREFIX}:home:notice:${userId}`,
  /** A log tail's next (older) page, for its More button. */
  logPage: (pageId: string) => `${KEY_PREFIX}:log-page:${pageId}`,
  /** Set once a file share (alarm chart) went through, so a retried job does not share it twice. */
  fileShared: (shareKey: string) => `${KEY_PREFIX}:file-shared:${shareKey}`,
} as const;
