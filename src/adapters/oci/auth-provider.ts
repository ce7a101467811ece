import * as common from 'oci-common';
import type { Env } from '../../config/env.js';
import { MlopsError } from '../../errors.js';

export type OciAuthProvider = common.AuthenticationDetailsProvider;

/**
 * Builds the OCI authentication provider OCI_AUTH asks for (reference/oci.md §4d). Workload identity is
 * what an OKE pod should use; it provides no region, so OCI_REGION is required with it (checked at
 * config load). Failures become CONFIG_INVALID with the reason, never a crash.
 */
export async function createAuthProvider(env: Env): Promise<OciAuthProvider> {
  try {
    switch (env.OCI_AUTH) {
      case 'config_file':
        return new common.ConfigFileAuthenticationDetailsProvider(env.OCI_CONFIG_FILE, env.OCI_PROFILE);
      case 'instance_principal':
        return await new common.InstancePrincipalsAuthenticationDetailsProviderBuilder().build();
      case 'resource_principal':
        return common.ResourcePrincipalAuthenticationDetailsProvider.builder();
      case 'workload_identity':
        return common.OkeWorkloadIdentityAuthenticationDetailsProvider.builder('', '');
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MlopsError('CONFIG_INVALID', `OCI authentication (${env.OCI_AUTH}) is not usable: ${reason}`, {
      userMessage: `The bot cannot authenticate to OCI (OCI_AUTH=${env.OCI_AUTH}): ${reason}`,
      cause: error,
    });
  }
}
