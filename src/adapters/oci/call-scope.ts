import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';
import { parseRetryAfter } from '../../http/retry-after.js';
import type { Logger } from '../../log.js';

/** What one adapter call collects while the SDK runs: its logger and OCI's Retry-After, if any. */
export interface CallScope {
  readonly logger: Logger;
  retryAfterMs: number | undefined;
}

const scopes = new AsyncLocalStorage<CallScope>();
let consoleRedirected = false;

/**
 * oci-common writes straight to the console: `console.warn` after every failed call even with its
 * retries off ("All retry attempts have exhausted. Total Attempts : 1 …", "Request cannot be retried …"),
 * and console.log/info from the config-file reader and the instance-principal federation client. Output
 * made inside an adapter call goes to that call's pino logger at debug level instead (the mapped error
 * carries the facts); console output made anywhere else passes through untouched.
 */
function redirectSdkConsole(): void {
  if (consoleRedirected) return;
  consoleRedirected = true;
  for (const method of ['log', 'info', 'warn'] as const) {
    // eslint-disable-next-line no-console -- wraps the console the SDK writes to; nothing is printed here
    const original = console[method].bind(console);
    // eslint-disable-next-line no-console -- see above
    console[method] = (...args: unknown[]): void => {
      const scope = scopes.getStore();
      if (scope) scope.logger.debug({ sdkOutput: format(...args) }, 'oci sdk console output');
      else original(...args);
    };
  }
}

export function runInCallScope<T>(logger: Logger, run: (scope: CallScope) => Promise<T>): Promise<T> {
  redirectSdkConsole();
  const scope: CallScope = { logger, retryAfterMs: undefined };
  return scopes.run(scope, () => run(scope));
}

/** Notes an HTTP Retry-After (delta seconds or an HTTP date) on the current call, if there is one. */
export function noteRetryAfter(header: string | null, now: number = Date.now()): void {
  const scope = scopes.getStore();
  if (!scope || !header) return;
  const ms = parseRetryAfter(header, now);
  if (ms !== undefined) scope.retryAfterMs = ms;
}
