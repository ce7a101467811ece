import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BOT_TOKEN, SIGNING_SECRET } from '../test/helpers/bot-harness.js';
import type { TestOci } from '../test/helpers/oci.js';
import { NOTIFICATION_PASSWORD, NOTIFICATION_USER } from './oci-events.js';

/** OCI config-file auth against the local OCI stand-in, as operators configure it: a key file and a config file in `dir`. */
export function ociConfigEnv(dir: string, oci: Pick<TestOci, 'key' | 'env'>): Record<string, string> {
  const keyPath = join(dir, 'oci_api_key.pem');
  writeFileSync(keyPath, oci.key.privateKeyPem, { mode: 0o600 });
  const configPath = join(dir, 'oci-config');
  writeFileSync(configPath, `[DEFAULT]\nuser=${oci.key.user}\nfingerprint=${oci.key.fingerprint}\ntenancy=${oci.key.tenancy}\nregion=us-ashburn-1\nkey_file=${keyPath}\n`);
  return { OCI_AUTH: 'config_file', OCI_CONFIG_FILE: configPath, OCI_PROFILE: 'DEFAULT', ...oci.env };
}

/** The environment of a bot process the bench or a probe starts (`node dist/src/main.js`) against the fakes. */
export function botEnv(options: { role: string; slackUrl: string; redisUrl: string; configPath: string; oci?: Record<string, string> }): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: options.slackUrl,
    REDIS_URL: options.redisUrl,
    HOST: '127.0.0.1',
    ROLE: options.role,
    MLOPS_CONFIG: options.configPath,
    LOG_LEVEL: 'warn',
    OCI_NOTIFICATIONS_USER: NOTIFICATION_USER,
    OCI_NOTIFICATIONS_PASSWORD: NOTIFICATION_PASSWORD,
    ...options.oci,
  };
}
