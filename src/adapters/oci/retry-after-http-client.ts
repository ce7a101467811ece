import * as common from 'oci-common';
import type { OciAuthProvider } from './auth-provider.js';
import { noteRetryAfter } from './call-scope.js';

/**
 * The SDK's fetch has no timeout, so an OCI endpoint that accepts a connection and never answers held its
 * job (and the run's Slack status) forever. OCI answers a create or get within seconds; after this long the
 * call fails as retryable and the job's backoff takes over (the opc-retry-token keeps a create to one run).
 */
export const OCI_CALL_TIMEOUT_MS = 60_000;

/**
 * The SDK's own fetch client, built without a circuit breaker, with a timeout per call, that notes OCI's
 * Retry-After on a 429 for the current call: the OciError the SDK throws keeps no response headers.
 */
export class RetryAfterHttpClient implements common.HttpClient {
  private readonly signer: common.RequestSigner;

  constructor(
    provider: OciAuthProvider,
    private readonly timeoutMs = OCI_CALL_TIMEOUT_MS,
  ) {
    this.signer = new common.DefaultRequestSigner(provider);
  }

  async send(...args: Parameters<common.HttpClient['send']>): Promise<Response> {
    // A client per call: the SDK passes its fetch options as given, and the signal is this call's deadline.
    const inner = new common.FetchHttpClient(this.signer, null, { signal: AbortSignal.timeout(this.timeoutMs) });
    const response = await inner.send(...args);
    if (response.status === 429) noteRetryAfter(response.headers.get('retry-after'));
    return response;
  }
}
