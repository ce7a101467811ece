import * as common from 'oci-common';
import type { Env } from '../../config/env.js';
import { MlopsError } from '../../errors.js';

export type OciAuthProvider = common.AuthenticationDetailsProvider;

export interface AuthProviderOptions {
  /** A ready provider (tests pass a SimpleAuthenticationDetailsProvider); OCI_AUTH is then ignored. */
  provider?: OciAuthProvider | undefined;
}

/**
 * Builds the OCI authentication provider OCI_AUTH asks for (reference/oci.md §4d). Workload identity is
 * what an OKE pod should use; it is not a region provider, so OCI_REGION is required with it (checked at
 * config load and again when the clients are built). A provider that cannot be built (no ~/.oci/config,
 * missing resource-principal or Kubernetes variables, no instance metadata) is CONFIG_INVALID with the
 * SDK's reason, never a crash.
 */
export async function createAuthProvider(env: Env, options: AuthProviderOptions = {}): Promise<OciAuthProvider> {
  if (options.provider) return options.provider;
  try {
    switch (env.OCI_AUTH) {
      case 'config_file':
        return new common.ConfigFileAuthenticationDetailsProvider(env.OCI_CONFIG_FILE, env.OCI_PROFILE);
      case 'instance_principal':
        return await new common.InstancePrincipalsAuthenticationDetailsProviderBuilder().build();
      case 'resource_principal':
        return common.ResourcePrincipalAuthenticationDetailsProvider.builder();
      case 'workload_identity':
        // Empty paths select the service-account token and CA the kubelet mounts into the pod.
        return common.OkeWorkloadIdentityAuthenticationDetailsProvider.builder('', '');
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new MlopsError('CONFIG_INVALID', `OCI authentication (OCI_AUTH=${env.OCI_AUTH}) is not usable: ${reason}`, {
      userMessage: `The bot cannot authenticate to OCI (OCI_AUTH=${env.OCI_AUTH}): ${reason}`,
      details: { auth: env.OCI_AUTH, configFile: env.OCI_CONFIG_FILE, profile: env.OCI_PROFILE },
      cause: error,
    });
  }
}
