import * as common from 'oci-common';
import type { z } from 'zod';
import type { Env } from '../../config/env.js';
import { MlopsError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { createAuthProvider, type OciAuthProvider } from './auth-provider.js';
import { runInCallScope } from './call-scope.js';
import { toOciError, toUnexpectedResponse } from './oci-errors.js';
import { RetryAfterHttpClient } from './retry-after-http-client.js';

/** The setters every generated client shares; `region`/`regionId` overwrite `endpoint`. */
export interface Addressable {
  region: common.Region;
  regionId: string;
  endpoint: string;
}

export interface OciServiceOptions {
  /** Tests inject a SimpleAuthenticationDetailsProvider; production builds one from OCI_AUTH. */
  provider?: OciAuthProvider | undefined;
  /** How long one call may take before it fails as retryable; OCI_CALL_TIMEOUT_MS by default. */
  callTimeoutMs?: number | undefined;
}

/**
 * Exactly one retry layer: the BullMQ job that makes a call retries retryable errors with backoff, so
 * the SDK's retries (8 attempts by default) and its opossum circuit breaker (which would turn one
 * outage into failures of later, unrelated calls) are off for every client.
 */
export const CLIENT_CONFIGURATION: common.ClientConfiguration = {
  retryConfiguration: common.NoRetryConfigurationDetails,
  circuitBreaker: new common.CircuitBreaker({ disableClientCircuitBreaker: true }),
};

/** Region first (OCI_REGION, else the provider's), then the endpoint override: the region setters overwrite it. */
export function addressClient(env: Env, service: string, client: Addressable, provider: OciAuthProvider, endpointOverride: string | undefined): void {
  if (env.OCI_REGION) client.regionId = env.OCI_REGION;
  else if (common.isRegionProvider(provider) && provider.getRegion()) client.region = provider.getRegion();
  // The setter appends the API version (/20190101, /20210630, …); a trailing slash would double it.
  if (endpointOverride) client.endpoint = endpointOverride.replace(/\/+$/, '');
  if (!client.endpoint) {
    throw new MlopsError('CONFIG_INVALID', `No OCI region for the ${service} client: OCI_AUTH=${env.OCI_AUTH} does not provide one, so set OCI_REGION`, {
      userMessage: `The bot has no OCI region for ${service}; set OCI_REGION.`,
    });
  }
}

/** The SDK throws plain strings too (e.g. a service disabled by developer tool configuration). */
export function clientsNotBuilt(error: unknown): MlopsError {
  if (error instanceof MlopsError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new MlopsError('CONFIG_INVALID', `OCI clients cannot be built: ${reason}`, {
    userMessage: `The bot cannot set up its OCI clients: ${reason}`,
    cause: error,
  });
}

/**
 * One OCI call: a call scope (Retry-After, the SDK's console output), the failure mapped into the error
 * catalogue, the answer parsed with its schema, and the outcome logged with how long it took.
 */
export function callOci<C, T>(logger: Logger, operationName: string, schema: z.ZodType<T>, connect: () => Promise<C>, send: (client: C) => Promise<unknown>): Promise<T> {
  return runInCallScope(logger, async (scope) => {
    const client = await connect();
    const started = performance.now();
    let answer: unknown;
    try {
      answer = await send(client);
    } catch (error) {
      const mapped = toOciError(operationName, error, scope.retryAfterMs);
      logger.debug({ ...mapped.details, code: mapped.code, ms: Math.round(performance.now() - started) }, 'oci call failed');
      throw mapped;
    }
    const parsed = schema.safeParse(answer);
    if (!parsed.success) throw toUnexpectedResponse(operationName, parsed.error.issues);
    const id = typeof parsed.data === 'object' && parsed.data !== null && 'id' in parsed.data ? parsed.data.id : undefined;
    logger.debug({ operationName, ...(typeof id === 'string' ? { id } : {}), ms: Math.round(performance.now() - started) }, 'oci call succeeded');
    return parsed.data;
  });
}

export interface ServiceSpec<C> {
  /** For messages: "Logging Search", "Monitoring". */
  name: string;
  endpoint: string | undefined;
  create: (httpClient: common.HttpClient) => C;
}

/**
 * One oci-sdk service client built on first use (start-up never waits for OCI auth), with the same
 * call discipline as the Data Science and DevOps gateway: a call scope for Retry-After and SDK console
 * output, every failure mapped into the catalogue, every answer parsed with a schema.
 */
export class OciService<C extends Addressable & { close(): void }> {
  private built: Promise<{ provider: OciAuthProvider; client: C }> | undefined;

  constructor(
    private readonly env: Env,
    private readonly logger: Logger,
    private readonly spec: ServiceSpec<C>,
    private readonly options: OciServiceOptions = {},
  ) {}

  call<T>(operationName: string, schema: z.ZodType<T>, send: (client: C) => Promise<unknown>): Promise<T> {
    return callOci(this.logger, operationName, schema, async () => (await this.connect()).client, send);
  }

  async close(): Promise<void> {
    const pending = this.built;
    this.built = undefined;
    const built = await pending?.catch(() => undefined);
    if (!built) return;
    built.client.close();
    if (!this.options.provider && built.provider instanceof common.AbstractRequestingAuthenticationDetailsProvider) built.provider.closeProvider();
  }

  private connect(): Promise<{ provider: OciAuthProvider; client: C }> {
    this.built ??= this.build().catch((error: unknown) => {
      // Not cached: the next call tries again (the config file or token may have appeared meanwhile).
      this.built = undefined;
      throw error;
    });
    return this.built;
  }

  private async build(): Promise<{ provider: OciAuthProvider; client: C }> {
    const provider = await createAuthProvider(this.env, { provider: this.options.provider });
    try {
      const client = this.spec.create(new RetryAfterHttpClient(provider, this.options.callTimeoutMs));
      addressClient(this.env, this.spec.name, client, provider, this.spec.endpoint);
      this.logger.info({ service: this.spec.name, endpoint: client.endpoint }, 'oci client ready');
      return { provider, client };
    } catch (error) {
      throw clientsNotBuilt(error);
    }
  }
}
