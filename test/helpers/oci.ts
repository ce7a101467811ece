import * as common from 'oci-common';
import { LogSearchGateway } from '../../src/adapters/oci/log-search-gateway.js';
import { MonitoringGateway } from '../../src/adapters/oci/monitoring-gateway.js';
import { OciGateway } from '../../src/adapters/oci/oci-gateway.js';
import { envSchema } from '../../src/config/env.js';
import { createLogger } from '../../src/log.js';
import { FakeOciApi, generateTestKey, type TestKey } from '../fakes/fake-oci-api.js';

export interface TestOci {
  fake: FakeOciApi;
  key: TestKey;
  gateway: OciGateway;
  logSearch: LogSearchGateway;
  monitoring: MonitoringGateway;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** The fake OCI API plus the real adapter (real oci-sdk clients, signed with a generated test key) pointed at it. */
export async function startTestOci(keyOverride?: TestKey): Promise<TestOci> {
  const key = generateTestKey();
  const fake = await FakeOciApi.start({ publicKeyPem: key.publicKeyPem, keyId: key.keyId });
  const signing = keyOverride ?? key;
  const env = { OCI_DATASCIENCE_ENDPOINT: fake.url, OCI_DEVOPS_ENDPOINT: fake.url, OCI_LOGGING_ENDPOINT: fake.url, OCI_MONITORING_ENDPOINT: fake.url, OCI_REGION: 'us-ashburn-1' };
  const provider = new common.SimpleAuthenticationDetailsProvider(signing.tenancy, signing.user, signing.fingerprint, signing.privateKeyPem, null, common.Region.US_ASHBURN_1);
  const parsedEnv = envSchema.parse({ SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: 'x', ...env });
  const gateway = new OciGateway(parsedEnv, createLogger({ level: 'silent' }), { provider });
  const logSearch = new LogSearchGateway(parsedEnv, createLogger({ level: 'silent' }), { provider });
  const monitoring = new MonitoringGateway(parsedEnv, createLogger({ level: 'silent' }), { provider });
  return {
    fake,
    key,
    gateway,
    logSearch,
    monitoring,
    env,
    stop: async () => {
      await Promise.all([gateway.close(), logSearch.close(), monitoring.close()]);
      await fake.stop();
    },
  };
}
