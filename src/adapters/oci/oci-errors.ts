import { z } from 'zod';
import { MlopsError } from '../../errors.js';

/**
 * OCI errors in the catalogue: throttling (429), outages (5xx), `409 IncorrectState` and network failures
 * are retryable; anything else (400, 401, 403, 404) is final and is shown with OCI's error code and
 * opc-request-id, which is what Oracle support asks for.
 */
/** The shape of the SDK's OciError (matched by shape: each service package may carry its own oci-common). */
const ociErrorShape = z.object({
  statusCode: z.number(),
  serviceCode: z.string().default(''),
  message: z.string().default(''),
  opcRequestId: z.string().optional(),
});

export function toOciError(operation: string, error: unknown): MlopsError {
  if (error instanceof MlopsError) return error;
  const oci = ociErrorShape.safeParse(error);
  if (oci.success) {
    const { statusCode: status, serviceCode, opcRequestId } = oci.data;
    const details = { operation, statusCode: status, serviceCode, opcRequestId };
    const where = opcRequestId ? ` (opc-request-id ${opcRequestId})` : '';
    const userMessage = `OCI refused ${operation}: ${serviceCode || `HTTP ${status}`}${where}: ${oci.data.message}`;
    if (status === 429) return new MlopsError('RATE_LIMITED', `OCI ${operation} throttled`, { userMessage, details, retryAfterMs: 5_000, cause: error });
    if (status >= 500 || (status === 409 && serviceCode === 'IncorrectState') || status <= 0) {
      return new MlopsError('UPSTREAM_UNAVAILABLE', `OCI ${operation} failed with ${status}`, { userMessage, details, cause: error });
    }
    const code = status === 404 ? 'NOT_FOUND' : status === 401 ? 'UNAUTHORIZED' : status === 403 ? 'FORBIDDEN' : 'UPSTREAM_REJECTED';
    return new MlopsError(code, `OCI ${operation} refused with ${status} ${serviceCode}`, { userMessage, details, retryable: false, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new MlopsError('UPSTREAM_UNAVAILABLE', `OCI ${operation} unreachable: ${message}`, {
    userMessage: `OCI could not be reached for ${operation}: ${message}`,
    details: { operation },
    cause: error,
  });
}
