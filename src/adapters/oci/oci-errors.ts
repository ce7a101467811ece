import { z } from 'zod';
import { MlopsError } from '../../errors.js';

/**
 * The SDK's OciError, matched by shape rather than `instanceof` so that a second copy of oci-common
 * (a service package pinning another version) cannot slip past.
 */
const ociError = z.object({
  statusCode: z.number(),
  serviceCode: z.string().nullish(),
  message: z.string().nullish(),
  opcRequestId: z.string().nullish(),
});

/**
 * What the SDK's retrier throws for a failure without an HTTP answer (connection refused, DNS, TLS, our
 * timeout): a plain object copying the cause's code and message; a DOMException's code is a number.
 */
const clientSideError = z.object({ code: z.union([z.string(), z.number().transform(String)]).nullish(), message: z.string().nullish() });

const MAX_OCI_MESSAGE = 300;

function ociMessage(message: string | null | undefined): string {
  if (!message) return '';
  const text = message.replace(/\s+/g, ' ').trim();
  return `: ${text.length > MAX_OCI_MESSAGE ? `${text.slice(0, MAX_OCI_MESSAGE)}…` : text}`;
}

/**
 * Maps whatever an SDK call threw into the catalogue. Throttling (429), outages (5xx), `409
 * IncorrectState` and failures without an HTTP answer are retryable (the BullMQ job that made the call is
 * the only retry layer); everything else is final. 404 (OCI's NotAuthorizedOrNotFound) is NOT_FOUND;
 * 400, 401, 403 and the rest are UPSTREAM_REJECTED, since they are about the bot's own OCI identity,
 * policy or request, not the Slack user's. The user-facing message names OCI's error code and the
 * opc-request-id, which is what Oracle support asks for.
 */
export function toOciError(operationName: string, error: unknown, retryAfterMs?: number): MlopsError {
  if (error instanceof MlopsError) return error;
  const oci = ociError.safeParse(error);
  if (oci.success && oci.data.statusCode > 0) {
    const { statusCode, opcRequestId } = oci.data;
    const serviceCode = oci.data.serviceCode || `HTTP ${statusCode}`;
    const details = { operationName, statusCode, serviceCode, opcRequestId: opcRequestId ?? undefined };
    const reference = `${serviceCode}${opcRequestId ? ` (opc-request-id ${opcRequestId})` : ''}${ociMessage(oci.data.message)}`;
    const options = { details, cause: error };
    if (statusCode === 429) {
      return new MlopsError('RATE_LIMITED', `OCI ${operationName} throttled (429 ${serviceCode})`, {
        ...options,
        userMessage: `OCI throttled ${operationName}: ${reference}`,
        retryAfterMs,
      });
    }
    if (statusCode >= 500 || (statusCode === 409 && serviceCode === 'IncorrectState')) {
      return new MlopsError('UPSTREAM_UNAVAILABLE', `OCI ${operationName} failed (${statusCode} ${serviceCode})`, {
        ...options,
        userMessage: `OCI failed ${operationName}: ${reference}`,
      });
    }
    return new MlopsError(statusCode === 404 ? 'NOT_FOUND' : 'UPSTREAM_REJECTED', `OCI ${operationName} refused (${statusCode} ${serviceCode})`, {
      ...options,
      userMessage: `OCI refused ${operationName}: ${reference}`,
      retryable: false,
    });
  }
  const clientSide = clientSideError.safeParse(error);
  const reason = (clientSide.success ? clientSide.data.message : undefined) ?? (error instanceof Error ? error.message : String(error));
  const code = clientSide.success ? (clientSide.data.code ?? undefined) : undefined;
  return new MlopsError('UPSTREAM_UNAVAILABLE', `OCI ${operationName} unreachable: ${reason}`, {
    userMessage: `OCI could not be reached for ${operationName}: ${reason}`,
    details: { operationName, code },
    cause: error,
  });
}

/** An OCI answer that does not have the shape we rely on: retrying returns the same answer. */
export function toUnexpectedResponse(operationName: string, issues: z.core.$ZodIssue[]): MlopsError {
  const where = issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
  return new MlopsError('UPSTREAM_REJECTED', `OCI ${operationName} answered with an unexpected shape: ${where}`, {
    userMessage: `OCI answered ${operationName} with something the bot does not understand.`,
    retryable: false,
    details: { operationName, issues: where },
  });
}
