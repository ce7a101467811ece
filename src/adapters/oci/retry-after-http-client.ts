import * as common from 'oci-common';
import type { OciAuthProvider } from './auth-provider.js';
import { noteRetryAfter } from './call-scope.js';

/**
 * The SDK's own fetch client, built without a circuit breaker, that notes OCI's Retry-After on a 429
 * for the current call: the OciError the SDK throws keeps no response headers.
 */
export class RetryAfterHttpClient implements common.HttpClient {
  private readonly inner: common.FetchHttpClient;

  constructor(provider: OciAuthProvider) {
    this.inner = new common.FetchHttpClient(new common.DefaultRequestSigner(provider), null);
  }

  async send(...args: Parameters<common.HttpClient['send']>): Promise<Response> {
    const response = await this.inner.send(...args);
    if (response.status === 429) noteRetryAfter(response.headers.get('retry-after'));
    return response;
  }
}
