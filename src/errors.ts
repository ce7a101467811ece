/**
 * The error catalogue: every failure the bot reports has a stable code, a message a Slack user or an
 * operator can act on, and whether trying again can help (workers turn non-retryable errors into
 * BullMQ UnrecoverableError so permission and validation failures are not retried).
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { retryable: false, status: 500 },
  BAD_REQUEST: { retryable: false, status: 400 },
  UNAUTHORIZED: { retryable: false, status: 401 },
  FORBIDDEN: { retryable: false, status: 403 },
  NOT_FOUND: { retryable: false, status: 404 },
  PAYLOAD_TOO_LARGE: { retryable: false, status: 413 },
  CONFIRMATION_REFUSED: { retryable: false, status: 400 },
  RATE_LIMITED: { retryable: true, status: 429 },
  UPSTREAM_UNAVAILABLE: { retryable: true, status: 503 },
  UPSTREAM_REJECTED: { retryable: false, status: 502 },
  REDIS_UNAVAILABLE: { retryable: true, status: 503 },
  INTERNAL: { retryable: true, status: 500 },
} as const satisfies Record<string, { retryable: boolean; status: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface MlopsErrorOptions {
  /** What a Slack user or operator is shown; defaults to the message. */
  userMessage?: string;
  /** Overrides the catalogue's default. */
  retryable?: boolean;
  /** Milliseconds to wait before a retry can help (rate limits). */
  retryAfterMs?: number;
  /** Structured facts for the log: upstream status, service code, request id. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class MlopsError extends Error {
  readonly code: ErrorCode;
  readonly userMessage: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: MlopsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MlopsError';
    this.code = code;
    this.userMessage = options.userMessage ?? message;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details ?? {};
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].status;
  }
}

export function isMlopsError(error: unknown): error is MlopsError {
  return error instanceof MlopsError;
}

/** Wraps anything thrown into the catalogue, keeping MlopsErrors as they are. */
export function toMlopsError(error: unknown): MlopsError {
  if (error instanceof MlopsError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new MlopsError('INTERNAL', message, { userMessage: 'Something went wrong inside the bot.', cause: error });
}
